"""The generated customers (crowd.yml: customers)."""

from __future__ import annotations

from itertools import count

from relais.tools.demo_rows import DemoRows, slug


def add_customers(rows: DemoRows) -> None:
    draw, tuning, names = rows.draw, rows.crowd["customers"], rows.crowd["names"]
    languages = [language for language, n in tuning["count"].items() for _ in range(n)]
    draw.shuffle(languages)
    taken = {c.full_name for c in rows.customers}
    tiers = tuning["tiers"]
    weights = {tier: entry["weight"] for tier, entry in tiers.items()}
    next_ids = {account: count(tuning[account]["first_id"]) for account in ("telegram", "x")}

    def account(kind: str) -> str | None:
        return str(next(next_ids[kind])) if draw.chance(tuning[kind]["chance"]) else None

    for language in languages:
        firsts, lasts = names[language]["first"], names[language]["last"]
        name = f"{draw.choice(firsts)} {draw.choice(lasts)}"
        while name in taken:
            name = f"{draw.choice(firsts)} {draw.choice(lasts)}"
        taken.add(name)
        tier = draw.weighted(weights)
        rows.customer(
            name,
            language,
            tier,
            draw.between(tiers[tier]["points"]),
            web=f"{tuning['web_chat_prefix']}{slug(name)}",
            telegram=account("telegram"),
            x=account("x"),
            since=-draw.between(tuning["joined_days_ago"]),
        )
