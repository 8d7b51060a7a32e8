"""SQL of certification: criteria versions, applications and their decisions, the fraud-free share."""
from __future__ import annotations

from datetime import date

from sqlalchemy import Select, func, select, text

from core.extensions import db
from core.scope import UNSCOPED
from outreach.certification.models import Certification, CertificationCriteria, CertificationDecision


def latest_criteria() -> CertificationCriteria | None:
    """The latest criteria version, if any."""
    return db.session.scalar(select(CertificationCriteria).order_by(CertificationCriteria.version.desc()))


def latest_certification(village_code: str) -> Certification | None:
    """The village's latest application or certification (rejected ones included)."""
    return db.session.scalar(select(Certification).where(Certification.village_code == village_code)
                             .order_by(Certification.applied_at.desc(), Certification.id.desc()))


def decisions_of(certification_id: int) -> list[CertificationDecision]:
    """The decisions on an application, in order."""
    return list(db.session.scalars(select(CertificationDecision).where(
        CertificationDecision.certification_id == certification_id).order_by(CertificationDecision.id)))


def has_decided(certification_id: int, username: str) -> bool:
    """Whether this account has already decided on the application."""
    return db.session.scalar(select(CertificationDecision.id).where(
        CertificationDecision.certification_id == certification_id,
        CertificationDecision.decided_by == username).limit(1)) is not None


def valid_certification_locked(village_code: str, on: date) -> Certification | None:
    """The village's certification valid on a day, locked, whatever the caller's scope."""
    return db.session.scalar(select(Certification).where(
        Certification.village_code == village_code, Certification.status == "certified",
        Certification.valid_until >= on).with_for_update().execution_options(**UNSCOPED))


def certifications_select(prefix: str | None, status: str | None, on: date) -> Select:
    """Certifications by region and status as displayed on a day (expired: certified past validity), newest
    first."""
    statement = select(Certification).order_by(Certification.applied_at.desc(), Certification.id.desc())
    if prefix:
        statement = statement.where(Certification.village_code.startswith(prefix, autoescape=True))
    if status == "expired":
        statement = statement.where(Certification.status == "certified", Certification.valid_until < on)
    elif status == "certified":
        statement = statement.where(Certification.status == "certified", Certification.valid_until >= on)
    elif status:
        statement = statement.where(Certification.status == status)
    return statement


def fraud_free_rows(prefix: str, length: int, level: str, on: date) -> list[tuple]:
    """(code, name, villages, villages certified on a day) of every region at ``level`` under a prefix;
    ``length`` is the code length of that level."""
    return db.session.execute(text("""
        with villages as (
            select r.code, exists (select 1 from certifications c where c.village_code = r.code
                                   and c.status = 'certified' and c.valid_until >= :today) as certified
            from regions r where r.level = 'village' and r.code like :like
        )
        select p.code, p.name, count(v.code), count(v.code) filter (where v.certified)
        from regions p left join villages v on left(v.code, :length) = left(p.code, :length)
        where p.level = :level and p.code like :like
        group by p.code, p.name order by p.code
    """), {"like": prefix + "%", "length": length, "level": level, "today": on}).all()


def cases_or_certifications_exist() -> bool:
    """Whether any case or certification is stored (the seeder's --if-empty)."""
    return db.session.execute(text(
        "select exists (select 1 from cases) or exists (select 1 from certifications)")).scalar()


def village_codes() -> list[str]:
    """Every village's code, in order."""
    return list(db.session.scalars(text("select code from regions where level = 'village' order by code")))


def certification_count() -> int:
    """Applications and certifications stored (in scope)."""
    return db.session.scalar(select(func.count()).select_from(Certification))
