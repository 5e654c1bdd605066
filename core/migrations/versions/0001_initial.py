"""Maak's tables as they were when the schema came under migrations.

A database made by an older Maak (tables created directly, columns added in place) is not run
through it: `core.store.Store.migrate` adds what it lacks and stamps it.

Revision ID: 0001
Revises:
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('maak_audit_log',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.Column('action', sa.String(length=32), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('maak_cases',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('conversation_id', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('priority', sa.String(length=16), nullable=False),
    sa.Column('lang', sa.String(length=16), nullable=True),
    sa.Column('channel', sa.String(length=32), nullable=False),
    sa.Column('region', sa.String(length=16), nullable=True),
    sa.Column('category', sa.String(length=32), nullable=True),
    sa.Column('danger', sa.Boolean(), nullable=False),
    sa.Column('safe_to_chat', sa.String(length=16), nullable=True),
    sa.Column('summary_enc', sa.Text(), nullable=True),
    sa.Column('intake_done', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('claimed_by', sa.String(length=64), nullable=True),
    sa.Column('claimed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('outcome', sa.String(length=32), nullable=True),
    sa.Column('escalated_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('callback_window', sa.String(length=16), nullable=True),
    sa.Column('callback_due_on', sa.String(length=10), nullable=True),
    sa.Column('told_position', sa.Integer(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('maak_cases', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_maak_cases_conversation_id'), ['conversation_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_maak_cases_status'), ['status'], unique=False)

    op.create_table('maak_contacts',
    sa.Column('conversation_id', sa.String(length=64), nullable=False),
    sa.Column('channel', sa.String(length=32), nullable=False),
    sa.Column('address_enc', sa.Text(), nullable=False),
    sa.Column('lang', sa.String(length=16), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('conversation_id')
    )
    with op.batch_alter_table('maak_contacts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_maak_contacts_last_seen_at'), ['last_seen_at'], unique=False)

    op.create_table('maak_login_failures',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('name_key', sa.String(length=64), nullable=False),
    sa.Column('ip_key', sa.String(length=64), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('maak_login_failures', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_maak_login_failures_ip_key'), ['ip_key'], unique=False)
        batch_op.create_index(batch_op.f('ix_maak_login_failures_name_key'), ['name_key'], unique=False)

    op.create_table('maak_sessions',
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('csrf_token', sa.String(length=64), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('token_hash')
    )
    with op.batch_alter_table('maak_sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_maak_sessions_username'), ['username'], unique=False)

    op.create_table('maak_users',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('password_hash', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('seen_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('username')
    )
    op.create_table('maak_case_messages',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('author', sa.String(length=16), nullable=False),
    sa.Column('text_enc', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('counsellor', sa.String(length=64), nullable=True),
    sa.Column('delivery_error', sa.String(length=64), nullable=True),
    sa.ForeignKeyConstraint(['case_id'], ['maak_cases.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('maak_case_messages', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_maak_case_messages_case_id'), ['case_id'], unique=False)

    op.create_table('maak_referrals',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('service_id', sa.String(length=64), nullable=False),
    sa.Column('note_enc', sa.Text(), nullable=True),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['maak_cases.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('maak_referrals', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_maak_referrals_case_id'), ['case_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('maak_referrals', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_maak_referrals_case_id'))

    op.drop_table('maak_referrals')
    with op.batch_alter_table('maak_case_messages', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_maak_case_messages_case_id'))

    op.drop_table('maak_case_messages')
    op.drop_table('maak_users')
    with op.batch_alter_table('maak_sessions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_maak_sessions_username'))

    op.drop_table('maak_sessions')
    with op.batch_alter_table('maak_login_failures', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_maak_login_failures_name_key'))
        batch_op.drop_index(batch_op.f('ix_maak_login_failures_ip_key'))

    op.drop_table('maak_login_failures')
    with op.batch_alter_table('maak_contacts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_maak_contacts_last_seen_at'))

    op.drop_table('maak_contacts')
    with op.batch_alter_table('maak_cases', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_maak_cases_status'))
        batch_op.drop_index(batch_op.f('ix_maak_cases_conversation_id'))

    op.drop_table('maak_cases')
    op.drop_table('maak_audit_log')
