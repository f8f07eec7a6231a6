"""contacts identity: merges audit, identity warnings, contact document fields, anonymous visitors

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "contact_merges",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "workspace_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "survivor_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "merged_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("via", sa.String(length=16), nullable=False),
        sa.Column("key_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("created_us", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["merged_id"],
            ["contacts.id"],
        ),
        sa.ForeignKeyConstraint(
            ["survivor_id"],
            ["contacts.id"],
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("contact_merges", schema=None) as batch_op:
        batch_op.create_index("ix_contact_merges_merged", ["merged_id"], unique=False)
        batch_op.create_index("ix_contact_merges_survivor", ["survivor_id"], unique=False)
        batch_op.create_index("ix_contact_merges_workspace", ["workspace_id", "id"], unique=False)

    op.create_table(
        "identity_warnings",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "workspace_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column(
            "contact_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "other_contact_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("via", sa.String(length=16), nullable=False),
        sa.Column("key_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("created_us", sa.BigInteger(), nullable=False),
        sa.Column("occurrences", sa.BigInteger(), nullable=False),
        sa.Column("last_seen_us", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
        ),
        sa.ForeignKeyConstraint(
            ["other_contact_id"],
            ["contacts.id"],
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("identity_warnings", schema=None) as batch_op:
        batch_op.create_index("ix_identity_warnings_contact", ["contact_id"], unique=False)
        batch_op.create_index("ix_identity_warnings_other", ["other_contact_id"], unique=False)
        batch_op.create_index(
            "ix_identity_warnings_workspace", ["workspace_id", "id"], unique=False
        )

    with op.batch_alter_table("contact_identifiers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("channel", sa.String(length=24), nullable=True))

    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "address",
                sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
                nullable=True,
            )
        )
        batch_op.add_column(sa.Column("language_code", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("time_zone", sa.Text(), nullable=True))
        batch_op.add_column(
            sa.Column("anonymous", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.create_index("ix_contacts_merged_into", ["merged_into"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.drop_index("ix_contacts_merged_into")
        batch_op.drop_column("anonymous")
        batch_op.drop_column("time_zone")
        batch_op.drop_column("language_code")
        batch_op.drop_column("address")

    with op.batch_alter_table("contact_identifiers", schema=None) as batch_op:
        batch_op.drop_column("channel")

    with op.batch_alter_table("identity_warnings", schema=None) as batch_op:
        batch_op.drop_index("ix_identity_warnings_workspace")
        batch_op.drop_index("ix_identity_warnings_other")
        batch_op.drop_index("ix_identity_warnings_contact")

    op.drop_table("identity_warnings")
    with op.batch_alter_table("contact_merges", schema=None) as batch_op:
        batch_op.drop_index("ix_contact_merges_workspace")
        batch_op.drop_index("ix_contact_merges_survivor")
        batch_op.drop_index("ix_contact_merges_merged")

    op.drop_table("contact_merges")
