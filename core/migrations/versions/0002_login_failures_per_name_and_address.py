"""Failed logins counted per name and address together, so that nobody can lock a counsellor out.

The rows are short-lived counters (fifteen minutes): the table is made again rather than converted.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _create(key: str) -> None:
    op.create_table('maak_login_failures',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column(key, sa.String(length=64), nullable=False),
    sa.Column('ip_key', sa.String(length=64), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('maak_login_failures', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_maak_login_failures_ip_key'), ['ip_key'], unique=False)
        batch_op.create_index(batch_op.f(f'ix_maak_login_failures_{key}'), [key], unique=False)


def upgrade() -> None:
    op.drop_table('maak_login_failures')
    _create('pair_key')


def downgrade() -> None:
    op.drop_table('maak_login_failures')
    _create('name_key')
