"""Assignments (member ↔ cell, role, validity period; history kept) and optimiser plans.

Partial unique indexes enforce one current chief per cell and no duplicate current
assignment; keys lead with the county code for distribution.

Revision ID: 0003_assignments
Revises: 0002_accounts
Create Date: 2026-11-28 13:28:35.640548

"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = '0003_assignments'
down_revision = '0002_accounts'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('assignment_plans',
    sa.Column('id', sa.Integer(), sa.Identity(always=False), nullable=False),
    sa.Column('region_code', sa.String(length=12), nullable=False),
    sa.Column('keep_existing', sa.Boolean(), nullable=False),
    sa.Column('status', sa.String(length=10), server_default='draft', nullable=False),
    sa.Column('cells', sa.Integer(), nullable=False),
    sa.Column('covered', sa.Integer(), nullable=False),
    sa.Column('uncovered', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('total_distance_km', sa.Float(), nullable=False),
    sa.Column('greedy_total_distance_km', sa.Float(), nullable=False),
    sa.Column('greedy_covered', sa.Integer(), nullable=False),
    sa.Column('changes', sa.Integer(), nullable=False),
    sa.Column('solve_seconds', sa.Float(), nullable=False),
    sa.Column('fingerprint', sa.String(length=32), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=True),
    sa.Column('created_at', postgresql.TIMESTAMP(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('applied_by', sa.String(length=64), nullable=True),
    sa.Column('applied_at', postgresql.TIMESTAMP(timezone=True), nullable=True),
    sa.CheckConstraint("status in ('draft', 'applied')", name=op.f('ck_assignment_plans_status')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_assignment_plans'))
    )
    op.create_table('assignment_plan_items',
    sa.Column('plan_id', sa.Integer(), nullable=False),
    sa.Column('grid_code', sa.String(length=18), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=True),
    sa.Column('distance_m', sa.Integer(), nullable=True),
    sa.Column('is_change', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['plan_id'], ['assignment_plans.id'], name=op.f('fk_assignment_plan_items_plan_id_assignment_plans'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('plan_id', 'grid_code', name=op.f('pk_assignment_plan_items'))
    )
    op.create_table('assignments',
    sa.Column('county_code', sa.String(length=6), nullable=False),
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.Column('grid_code', sa.String(length=18), nullable=False),
    sa.Column('village_code', sa.String(length=12), nullable=False),
    sa.Column('role', sa.String(length=10), nullable=False),
    sa.Column('valid_from', postgresql.TIMESTAMP(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('valid_to', postgresql.TIMESTAMP(timezone=True), nullable=True),
    sa.Column('source', sa.String(length=10), server_default='manual', nullable=False),
    sa.Column('plan_id', sa.Integer(), nullable=True),
    sa.Column('created_by', sa.String(length=64), nullable=True),
    sa.Column('ended_by', sa.String(length=64), nullable=True),
    sa.CheckConstraint("role in ('chief', 'worker', 'liaison')", name=op.f('ck_assignments_role')),
    sa.CheckConstraint("source in ('manual', 'plan', 'seed')", name=op.f('ck_assignments_source')),
    sa.CheckConstraint('valid_to is null or valid_to >= valid_from', name=op.f('ck_assignments_period')),
    sa.ForeignKeyConstraint(['grid_code'], ['grids.code'], name=op.f('fk_assignments_grid_code_grids')),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_assignments_member_id_members')),
    sa.PrimaryKeyConstraint('county_code', 'id', name=op.f('pk_assignments'))
    )
    with op.batch_alter_table('assignments', schema=None) as batch_op:
        batch_op.create_index('ix_assignments_grid_code', ['grid_code', 'valid_from'], unique=False)
        batch_op.create_index('ix_assignments_member_id', ['member_id', 'valid_to'], unique=False)
        batch_op.create_index('ix_assignments_village_code', ['village_code'], unique=False, postgresql_ops={'village_code': 'varchar_pattern_ops'})
        batch_op.create_index('uq_assignments_current_chief', ['county_code', 'grid_code'], unique=True, postgresql_where=sa.text("role = 'chief' and valid_to is null"))
        batch_op.create_index('uq_assignments_current_member_cell', ['county_code', 'grid_code', 'member_id'], unique=True, postgresql_where=sa.text('valid_to is null'))



def downgrade():
    with op.batch_alter_table('assignments', schema=None) as batch_op:
        batch_op.drop_index('uq_assignments_current_member_cell', postgresql_where=sa.text('valid_to is null'))
        batch_op.drop_index('uq_assignments_current_chief', postgresql_where=sa.text("role = 'chief' and valid_to is null"))
        batch_op.drop_index('ix_assignments_village_code', postgresql_ops={'village_code': 'varchar_pattern_ops'})
        batch_op.drop_index('ix_assignments_member_id')
        batch_op.drop_index('ix_assignments_grid_code')

    op.drop_table('assignments')
    op.drop_table('assignment_plan_items')
    op.drop_table('assignment_plans')
