"""The airline's customer records: customers, flights, bookings and what happened to them.

All datetimes are naive UTC; the airports' IANA time zones say how to show them locally.
"""

from __future__ import annotations

import enum
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    Date,
    DateTime,
    Enum,
    ForeignKey,
    Integer,
    Numeric,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import relationship, validates
from sqlalchemy.types import TypeEngine

from relais.core.codes import brand_codes
from relais.core.types import (
    SPECIAL_ASSISTANCE_CODES,
    BaggageKind,
    BaggageStatus,
    BookingStatus,
    Channel,
    FareFamily,
    FlightStatus,
    HandledBy,
    Language,
    LoyaltyTier,
    RefundStatus,
    StrEnum,
    utcnow,
)
from relais.storage.db import Base


def _values(enum_class: type[enum.Enum]) -> list[str]:
    return [str(member.value) for member in enum_class]


def _enum(enum_class: type[StrEnum], name: str) -> Enum:
    # A VARCHAR plus a CHECK constraint rather than a native PostgreSQL ENUM: adding a status
    # later is a constraint change, not an ALTER TYPE, and SQLite gets the same check.
    return Enum(
        enum_class,
        name=name,
        native_enum=False,
        create_constraint=True,
        validate_strings=True,
        values_callable=_values,
    )


def delay_minutes(scheduled: datetime | None, estimated: datetime | None) -> int:
    """Minutes a departure is expected late (0 when on time, cancelled or unknown)."""
    if estimated is None or scheduled is None:
        return 0
    return max(0, round((estimated - scheduled).total_seconds() / 60))


class Money(TypeDecorator):
    """NUMERIC(10, 2) in euros, read back as Decimal on every database.

    SQLite keeps NUMERIC as a float; two-decimal amounts of this size round-trip exactly once
    quantized, so it is read as float and quantized here instead of letting SQLAlchemy warn
    about lossy Decimals on every query.
    """

    impl = Numeric(10, 2)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(Numeric(10, 2, asdecimal=False))
        return dialect.type_descriptor(Numeric(10, 2))

    def process_result_value(
        self, value: float | Decimal | None, dialect: Dialect
    ) -> Decimal | None:
        if value is None or isinstance(value, Decimal):
            return value
        return Decimal(f"{value:.2f}")


class Customer(Base):
    """A customer, with the channel identities that let a conversation find them."""

    __tablename__ = "customers"

    id = Column(Integer, primary_key=True)
    full_name = Column(String(120), nullable=False)
    email = Column(String(254), nullable=False)
    preferred_language = Column(_enum(Language, "language"), nullable=False)
    loyalty_tier = Column(_enum(LoyaltyTier, "loyalty_tier"), nullable=False)
    loyalty_points = Column(Integer, nullable=False, default=0)
    telegram_user_id = Column(String(64), unique=True)
    x_user_id = Column(String(64), unique=True)
    #: The customer's id on the brand's website: what its signed assertions name, and the
    #: demo picker's key. A web chat visitor is bound to the customer only by those
    #: (relais/storage/identity.py), never by sending this id.
    web_chat_id = Column(String(64), unique=True)
    created_at = Column(DateTime, nullable=False, default=utcnow)

    bookings = relationship(
        "Booking", back_populates="customer", order_by="Booking.id", cascade="all, delete-orphan"
    )
    contacts = relationship(
        "Contact",
        back_populates="customer",
        order_by="Contact.created_at",
        cascade="all, delete-orphan",
    )

    def __repr__(self) -> str:
        return f"<Customer {self.id} {self.full_name!r}>"


class Flight(Base):
    """One departure of a flight number on one day."""

    __tablename__ = "flights"
    __table_args__ = (UniqueConstraint("number", "scheduled_departure"),)

    id = Column(Integer, primary_key=True)
    number = Column(String(5), nullable=False, index=True)
    origin_code = Column(String(3), nullable=False)
    origin_city = Column(String(80), nullable=False)
    destination_code = Column(String(3), nullable=False)
    destination_city = Column(String(80), nullable=False)
    destination_country = Column(String(2), nullable=False)
    origin_tz = Column(String(64), nullable=False)
    destination_tz = Column(String(64), nullable=False)
    scheduled_departure = Column(DateTime, nullable=False)
    scheduled_arrival = Column(DateTime, nullable=False)
    estimated_departure = Column(DateTime)
    estimated_arrival = Column(DateTime)
    gate = Column(String(8))
    terminal = Column(String(8))
    status = Column(
        _enum(FlightStatus, "flight_status"), nullable=False, default=FlightStatus.ON_TIME
    )

    segments = relationship("Segment", back_populates="flight")

    @validates("number")
    def _check_number(self, _key: str, number: str) -> str:
        if not brand_codes().flight_number.fullmatch(number):
            raise ValueError(f"flight number {number!r} is not XY and three digits")
        return number

    @property
    def delay_minutes(self) -> int:
        """Minutes the departure is expected late (0 when on time, cancelled or unknown)."""
        return delay_minutes(self.scheduled_departure, self.estimated_departure)

    def __repr__(self) -> str:
        route = f"{self.origin_code}-{self.destination_code}"
        return f"<Flight {self.number} {route} {self.scheduled_departure}>"


class Booking(Base):
    """A booking (PNR): its fare conditions, passengers, flights and after-sales files."""

    __tablename__ = "bookings"

    id = Column(Integer, primary_key=True)
    reference = Column(String(6), nullable=False, unique=True)
    customer_id = Column(
        Integer, ForeignKey("customers.id", ondelete="CASCADE"), nullable=False, index=True
    )
    fare_family = Column(_enum(FareFamily, "fare_family"), nullable=False)
    changeable = Column(Boolean, nullable=False)
    change_fee = Column(Money(), nullable=False, default=Decimal("0.00"))
    refundable = Column(Boolean, nullable=False)
    cancellation_fee = Column(Money(), nullable=False, default=Decimal("0.00"))
    total_paid = Column(Money(), nullable=False)
    currency = Column(String(3), nullable=False, default="EUR")
    checked_bags_included = Column(Integer, nullable=False)
    cabin_bag_kg = Column(Integer, nullable=False)
    status = Column(
        _enum(BookingStatus, "booking_status"), nullable=False, default=BookingStatus.CONFIRMED
    )
    created_at = Column(DateTime, nullable=False, default=utcnow)

    customer = relationship("Customer", back_populates="bookings")
    passengers = relationship(
        "Passenger", back_populates="booking", order_by="Passenger.id", cascade="all, delete-orphan"
    )
    segments = relationship(
        "Segment",
        back_populates="booking",
        order_by="Segment.sequence",
        cascade="all, delete-orphan",
    )
    refunds = relationship(
        "Refund",
        back_populates="booking",
        order_by="Refund.requested_at",
        cascade="all, delete-orphan",
    )
    baggage_reports = relationship(
        "BaggageReport",
        back_populates="booking",
        order_by="BaggageReport.created_at",
        cascade="all, delete-orphan",
    )
    contacts = relationship(
        "Contact", back_populates="booking", order_by="Contact.created_at", passive_deletes=True
    )

    @validates("reference")
    def _check_reference(self, _key: str, reference: str) -> str:
        if not brand_codes().booking_reference.fullmatch(reference):
            raise ValueError(f"booking reference {reference!r} is not XY and four letters/digits")
        return reference

    def __repr__(self) -> str:
        return f"<Booking {self.reference}>"


class Passenger(Base):
    """A person travelling on a booking."""

    __tablename__ = "passengers"

    id = Column(Integer, primary_key=True)
    booking_id = Column(
        Integer, ForeignKey("bookings.id", ondelete="CASCADE"), nullable=False, index=True
    )
    full_name = Column(String(120), nullable=False)
    #: An IATA code from SPECIAL_ASSISTANCE_CODES, or None.
    special_assistance = Column(String(4))

    booking = relationship("Booking", back_populates="passengers")
    seats = relationship("SeatAssignment", back_populates="passenger", cascade="all, delete-orphan")

    @validates("special_assistance")
    def _check_assistance(self, _key: str, code: str | None) -> str | None:
        if code is not None and code not in SPECIAL_ASSISTANCE_CODES:
            raise ValueError(f"unknown special assistance code {code!r}")
        return code

    def __repr__(self) -> str:
        return f"<Passenger {self.full_name!r}>"


class Segment(Base):
    """One flight of a booking, in travel order."""

    __tablename__ = "segments"
    __table_args__ = (UniqueConstraint("booking_id", "sequence"),)

    id = Column(Integer, primary_key=True)
    booking_id = Column(
        Integer, ForeignKey("bookings.id", ondelete="CASCADE"), nullable=False, index=True
    )
    flight_id = Column(Integer, ForeignKey("flights.id"), nullable=False, index=True)
    sequence = Column(Integer, nullable=False)

    booking = relationship("Booking", back_populates="segments")
    flight = relationship("Flight", back_populates="segments")
    seats = relationship(
        "SeatAssignment",
        back_populates="segment",
        order_by="SeatAssignment.id",
        cascade="all, delete-orphan",
    )

    def __repr__(self) -> str:
        return f"<Segment {self.sequence} of booking {self.booking_id}>"


class SeatAssignment(Base):
    """A passenger's seat on one segment; `seat` is None until one is chosen."""

    __tablename__ = "seat_assignments"
    __table_args__ = (UniqueConstraint("segment_id", "passenger_id"),)

    id = Column(Integer, primary_key=True)
    segment_id = Column(
        Integer, ForeignKey("segments.id", ondelete="CASCADE"), nullable=False, index=True
    )
    passenger_id = Column(
        Integer, ForeignKey("passengers.id", ondelete="CASCADE"), nullable=False, index=True
    )
    seat = Column(String(4))

    segment = relationship("Segment", back_populates="seats")
    passenger = relationship("Passenger", back_populates="seats")

    def __repr__(self) -> str:
        return f"<SeatAssignment {self.seat or '-'}>"


class BaggageReport(Base):
    """A property irregularity report: a bag that is late or damaged."""

    __tablename__ = "baggage_reports"

    id = Column(Integer, primary_key=True)
    file_reference = Column(String(10), nullable=False, unique=True)
    booking_id = Column(
        Integer, ForeignKey("bookings.id", ondelete="CASCADE"), nullable=False, index=True
    )
    flight_id = Column(Integer, ForeignKey("flights.id"), nullable=False, index=True)
    kind = Column(_enum(BaggageKind, "baggage_kind"), nullable=False)
    status = Column(_enum(BaggageStatus, "baggage_status"), nullable=False)
    description = Column(String(500), nullable=False)
    #: Where the bag was last scanned, as "City (CODE)".
    last_seen = Column(String(120))
    expected_delivery = Column(DateTime)
    created_at = Column(DateTime, nullable=False, default=utcnow)
    updated_at = Column(DateTime, nullable=False, default=utcnow, onupdate=utcnow)

    booking = relationship("Booking", back_populates="baggage_reports")
    flight = relationship("Flight")

    @validates("file_reference")
    def _check_file_reference(self, _key: str, reference: str) -> str:
        if not brand_codes().baggage_file.fullmatch(reference):
            raise ValueError(f"baggage file {reference!r} is not a station, XY and five digits")
        return reference

    def __repr__(self) -> str:
        return f"<BaggageReport {self.file_reference} {self.status}>"


class Refund(Base):
    """Money owed back on a booking, and how far its payment has gone."""

    __tablename__ = "refunds"

    id = Column(Integer, primary_key=True)
    booking_id = Column(
        Integer, ForeignKey("bookings.id", ondelete="CASCADE"), nullable=False, index=True
    )
    amount = Column(Money(), nullable=False)
    currency = Column(String(3), nullable=False, default="EUR")
    status = Column(_enum(RefundStatus, "refund_status"), nullable=False)
    reason = Column(String(200), nullable=False)
    requested_at = Column(DateTime, nullable=False, default=utcnow)
    expected_date = Column(Date)
    paid_at = Column(DateTime)

    booking = relationship("Booking", back_populates="refunds")

    def __repr__(self) -> str:
        return f"<Refund {self.amount} {self.currency} {self.status}>"


class Contact(Base):
    """A past contact with customer service, whoever handled it.

    Contacts in the bot's and the agents' conversations are recorded by
    `relais.storage.queries.record_contact`: one row per conversation and booking, whose
    `last_at` follows the conversation while it goes on. Demo contacts have neither a
    conversation nor a `last_at` (their last activity is `created_at`).
    """

    __tablename__ = "contacts"

    id = Column(Integer, primary_key=True)
    customer_id = Column(
        Integer, ForeignKey("customers.id", ondelete="CASCADE"), nullable=False, index=True
    )
    booking_id = Column(Integer, ForeignKey("bookings.id", ondelete="SET NULL"), index=True)
    channel = Column(_enum(Channel, "channel"), nullable=False)
    #: The intent the contact was about, e.g. "refund_status".
    topic = Column(String(64), nullable=False)
    summary = Column(Text, nullable=False)
    handled_by = Column(_enum(HandledBy, "handled_by"), nullable=False)
    created_at = Column(DateTime, nullable=False, default=utcnow)
    #: The conversation it was recorded in ("<channel>:<sender>"); None for demo contacts.
    #: Not a foreign key: the records outlive the gateway's conversations.
    conversation_id = Column(String(200), index=True)
    #: Its last activity (None: `created_at`).
    last_at = Column(DateTime)

    customer = relationship("Customer", back_populates="contacts")
    booking = relationship("Booking", back_populates="contacts")

    def __repr__(self) -> str:
        return f"<Contact {self.channel} {self.topic} {self.created_at}>"


#: The record models, parents before children (the order to insert; reverse it to delete).
RECORD_MODELS: tuple[type[Base], ...] = (
    Customer,
    Flight,
    Booking,
    Passenger,
    Segment,
    SeatAssignment,
    BaggageReport,
    Refund,
    Contact,
)
#: Their tables, in the same order.
RECORD_TABLES: tuple[Table, ...] = tuple(model.__table__ for model in RECORD_MODELS)

__all__ = [
    "RECORD_MODELS",
    "RECORD_TABLES",
    "BaggageReport",
    "Booking",
    "Contact",
    "Customer",
    "Flight",
    "Money",
    "Passenger",
    "Refund",
    "SeatAssignment",
    "Segment",
    "delay_minutes",
]
