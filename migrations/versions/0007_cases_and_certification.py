"""Fraud cases, versioned certification criteria (version 1 = the defaults), applications, decisions.

Revision ID: 0007_certification
Revises: 0006_tier3_grids
Create Date: 2026-11-28 14:04:31.632113

"""
from alembic import op
import sqlalchemy as sa
from geoalchemy2 import Geometry
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = '0007_certification'
down_revision = '0006_tier3_grids'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('cases',
    sa.Column('county_code', sa.String(length=6), nullable=False),
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('village_code', sa.String(length=12), nullable=False),
    sa.Column('occurred_on', sa.Date(), nullable=False),
    sa.Column('type', sa.String(length=40), nullable=False),
    sa.Column('loss_yuan', sa.Numeric(precision=14, scale=2), nullable=False),
    sa.Column('location', Geometry(geometry_type='POINT', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry'), nullable=True),
    sa.Column('external_ref', sa.String(length=64), nullable=True),
    sa.Column('reported_by', sa.String(length=64), nullable=True),
    sa.Column('created_at', postgresql.TIMESTAMP(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("type in ('investment', 'order_brushing', 'impersonating_police', 'impersonating_customer_service', 'romance', 'loan', 'gaming', 'other')", name=op.f('ck_cases_type')),
    sa.CheckConstraint('loss_yuan >= 0', name=op.f('ck_cases_loss')),
    sa.PrimaryKeyConstraint('county_code', 'id', name=op.f('pk_cases'))
    )
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.create_index('ix_cases_id', ['id'], unique=False)
        batch_op.create_index('ix_cases_village_code_occurred_on', ['village_code', 'occurred_on'], unique=False, postgresql_ops={'village_code': 'varchar_pattern_ops'})

    op.create_table('certification_criteria',
    sa.Column('version', sa.Integer(), sa.Identity(always=False), nullable=False),
    sa.Column('zero_case_months', sa.Integer(), nullable=False),
    sa.Column('min_coverage', sa.Float(), nullable=False),
    sa.Column('min_vulnerable_coverage', sa.Float(), nullable=False),
    sa.Column('min_app_install_rate', sa.Float(), nullable=False),
    sa.Column('window_days', sa.Integer(), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=True),
    sa.Column('created_at', postgresql.TIMESTAMP(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('version', name=op.f('pk_certification_criteria'))
    )
    op.create_table('certifications',
    sa.Column('id', sa.Integer(), sa.Identity(always=False), nullable=False),
    sa.Column('village_code', sa.String(length=12), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('criteria_version', sa.Integer(), nullable=False),
    sa.Column('evaluation', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('applied_by', sa.String(length=64), nullable=True),
    sa.Column('applied_at', postgresql.TIMESTAMP(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('certified_on', sa.Date(), nullable=True),
    sa.Column('valid_until', sa.Date(), nullable=True),
    sa.Column('suspended_at', postgresql.TIMESTAMP(timezone=True), nullable=True),
    sa.Column('suspended_by_case', sa.Integer(), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.CheckConstraint("status in ('submitted', 'township_approved', 'certified', 'rejected', 'suspended')", name=op.f('ck_certifications_status')),
    sa.ForeignKeyConstraint(['criteria_version'], ['certification_criteria.version'], name=op.f('fk_certifications_criteria_version_certification_criteria')),
    sa.ForeignKeyConstraint(['village_code'], ['regions.code'], name=op.f('fk_certifications_village_code_regions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_certifications'))
    )
    with op.batch_alter_table('certifications', schema=None) as batch_op:
        batch_op.create_index('ix_certifications_village_code', ['village_code'], unique=False, postgresql_ops={'village_code': 'varchar_pattern_ops'})
        batch_op.create_index('uq_certifications_open_per_village', ['village_code'], unique=True, postgresql_where=sa.text("status in ('submitted', 'township_approved')"))

    op.create_table('certification_decisions',
    sa.Column('id', sa.Integer(), sa.Identity(always=False), nullable=False),
    sa.Column('certification_id', sa.Integer(), nullable=False),
    sa.Column('level', sa.String(length=10), nullable=False),
    sa.Column('decision', sa.String(length=10), nullable=False),
    sa.Column('comment', sa.Text(), nullable=True),
    sa.Column('decided_by', sa.String(length=64), nullable=True),
    sa.Column('decided_at', postgresql.TIMESTAMP(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("decision in ('approve', 'reject')", name=op.f('ck_certification_decisions_decision')),
    sa.CheckConstraint("level in ('township', 'county')", name=op.f('ck_certification_decisions_level')),
    sa.ForeignKeyConstraint(['certification_id'], ['certifications.id'], name=op.f('fk_certification_decisions_certification_id_certifications')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_certification_decisions'))
    )
    with op.batch_alter_table('certification_decisions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_certification_decisions_certification_id'), ['certification_id'], unique=False)



    op.execute("""
        insert into certification_criteria (zero_case_months, min_coverage, min_vulnerable_coverage,
                                            min_app_install_rate, window_days, created_by)
        values (12, 0.95, 1.0, 0.6, 90, 'migration')
    """)


def downgrade():
    with op.batch_alter_table('certification_decisions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_certification_decisions_certification_id'))

    op.drop_table('certification_decisions')
    with op.batch_alter_table('certifications', schema=None) as batch_op:
        batch_op.drop_index('uq_certifications_open_per_village', postgresql_where=sa.text("status in ('submitted', 'township_approved')"))
        batch_op.drop_index('ix_certifications_village_code', postgresql_ops={'village_code': 'varchar_pattern_ops'})

    op.drop_table('certifications')
    op.drop_table('certification_criteria')
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_index('ix_cases_village_code_occurred_on', postgresql_ops={'village_code': 'varchar_pattern_ops'})
        batch_op.drop_index('ix_cases_id')

    op.drop_table('cases')
