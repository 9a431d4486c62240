"""SQLAlchemy tables of the image library; the Alembic migrations must match them."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Uuid,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from specimen_kit.database import UtcDateTime, named_metadata

BLOB_KEY_CHARS = 64


class Base(DeclarativeBase):
    metadata = named_metadata()


class ImageRow(Base):
    __tablename__ = "images"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    # The users service's id (the token's ``sub``); another service's table, so no foreign key.
    owner_id: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(200))
    format: Mapped[str] = mapped_column(String(8))
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    channels: Mapped[int] = mapped_column(Integer)
    bit_depth: Mapped[int] = mapped_column(Integer)
    bytes: Mapped[int] = mapped_column(BigInteger)
    blob_key: Mapped[str] = mapped_column(String(BLOB_KEY_CHARS), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)

    # Serves the owner-scoped, newest-first listing and the quota sums.
    __table_args__ = (Index("ix_images_owner_id_created_at", "owner_id", "created_at"),)


class SegmentationRow(Base):
    __tablename__ = "segmentations"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    image_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"))
    operation: Mapped[str] = mapped_column(String(32))
    params: Mapped[dict[str, Any]] = mapped_column(JSON)
    summary: Mapped[dict[str, Any]] = mapped_column(JSON)
    media_type: Mapped[str] = mapped_column(String(64))
    bytes: Mapped[int] = mapped_column(BigInteger)
    blob_key: Mapped[str] = mapped_column(String(BLOB_KEY_CHARS), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)

    __table_args__ = (
        Index("ix_segmentations_image_id_created_at", "image_id", "created_at"),
    )


class ImageDescriptorRow(Base):
    """One similarity descriptor of a picture: a library image or a kept result, one region.

    ``owner_id`` is the image's, kept here so that the search loads one owner's rows through
    one index without a join; ``vector`` is the float32 little-endian bytes of the unit vector.
    ``sqlite_autoincrement``: ids are never reused, so ``(count, max id)`` of an owner's rows
    changes whenever they do (the in-process index's staleness check).
    """

    __tablename__ = "image_descriptors"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
                                    autoincrement=True)
    owner_id: Mapped[int] = mapped_column(Integer)
    image_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"))
    segmentation_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("segmentations.id", ondelete="CASCADE"), nullable=True)
    region: Mapped[int] = mapped_column(Integer)
    descriptor_set_version: Mapped[str] = mapped_column(String(16))
    vector: Mapped[bytes] = mapped_column(LargeBinary)

    __table_args__ = (
        Index("ix_image_descriptors_owner_id_descriptor_set_version", "owner_id",
              "descriptor_set_version", "id"),
        Index("ix_image_descriptors_image_id", "image_id"),
        Index("ix_image_descriptors_segmentation_id", "segmentation_id"),
        {"sqlite_autoincrement": True},
    )
