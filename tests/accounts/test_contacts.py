"""Contact services: emails (unique case-insensitively), look-up, find-or-create, merge."""

from __future__ import annotations

import pytest

from caseline.accounts import services
from caseline.accounts.models import Contact, ContactEmail, User
from caseline.audit.models import AuditEvent
from caseline.errors import Conflict, NotFound, ValidationFailed

pytestmark = pytest.mark.django_db


@pytest.fixture
def acme():
    return services.create_organization(name="Acme", domains=["acme.com"])


def emails_of(contact: Contact) -> list[str]:
    return [
        e.email for e in ContactEmail.objects.filter(contact=contact).order_by("-is_primary", "id")
    ]


def test_create_contact_first_email_primary_and_org_by_domain(acme, se, published):
    c = services.create_contact(
        actor=se,
        name="Jane Doe",
        emails=["Jane@Acme.com", "jane.doe@sub.acme.com", "jane@acme.com"],
        phone="+49 30 1234",
        title="CTO",
        time_zone="Europe/Berlin",
    )
    assert emails_of(c) == ["jane@acme.com", "jane.doe@sub.acme.com"]
    assert c.primary_email == "jane@acme.com"
    assert c.organization == acme
    assert [e.type for e in published] == ["contact.created"]
    assert AuditEvent.objects.get(subject_type="contact", subject_id=c.pk).actor == se


def test_explicit_no_organization_is_kept(acme):
    c = services.create_contact(name="Jane", emails=["jane@acme.com"], organization=None)
    assert c.organization is None


def test_contact_validation_lists_fields():
    with pytest.raises(ValidationFailed) as exc:
        services.create_contact(
            name=" ", emails=["not-an-email"], organization=999, time_zone="Mars/Base"
        )
    assert set(exc.value.fields) == {"name", "emails", "organization", "time_zone"}
    assert not Contact.objects.exists()


def test_email_unique_case_insensitively_names_the_email():
    first = services.create_contact(name="Jane", emails=["jane@example.com"])
    with pytest.raises(Conflict) as exc:
        services.create_contact(name="Other", emails=["x@example.com", "JANE@example.com"])
    assert "jane@example.com" in exc.value.message
    assert f"#{first.pk}" in exc.value.fields["emails"]
    assert Contact.objects.count() == 1
    assert not ContactEmail.objects.filter(email="x@example.com").exists()


def test_update_contact_replaces_emails_and_records(acme, published):
    c = services.create_contact(name="Jane", emails=["a@example.com", "b@example.com"])
    published.clear()
    services.update_contact(c, emails=["b@example.com", "c@example.com"], title="VP")
    assert emails_of(c) == ["b@example.com", "c@example.com"]
    rows = {r.field: (r.old, r.new) for r in AuditEvent.objects.filter(type="contact.updated")}
    assert rows == {
        "emails": (["a@example.com", "b@example.com"], ["b@example.com", "c@example.com"]),
        "title": ("", "VP"),
    }
    assert [e.type for e in published] == ["contact.updated"]
    services.update_contact(c, organization=acme.pk)
    c.refresh_from_db()
    assert c.organization == acme


def test_update_contact_email_conflict_changes_nothing():
    services.create_contact(name="Jane", emails=["jane@example.com"])
    bob = services.create_contact(name="Bob", emails=["bob@example.com"])
    with pytest.raises(Conflict):
        services.update_contact(bob, name="Robert", emails=["Jane@Example.com"])
    bob.refresh_from_db()
    assert bob.name == "Bob" and emails_of(bob) == ["bob@example.com"]


def test_update_missing_contact_is_not_found():
    with pytest.raises(NotFound):
        services.update_contact(999_999, name="x")


def test_find_or_create_matches_any_email_case_insensitively():
    c = services.create_contact(name="Jane", emails=["jane@example.com", "j.doe@example.org"])
    assert services.find_or_create_contact("J.Doe@EXAMPLE.org") == c
    assert services.find_or_create_contact("Jane <jane@example.com>") == c
    assert Contact.objects.count() == 1


def test_find_or_create_creates_with_organization_by_domain(acme, published):
    c = services.find_or_create_contact("ops@eu.acme.com", name="Ops Team")
    assert (c.name, c.organization, c.primary_email) == ("Ops Team", acme, "ops@eu.acme.com")
    assert [e.type for e in published] == ["contact.created"]
    again = services.find_or_create_contact("OPS@eu.acme.com", name="Other name")
    assert again == c and Contact.objects.count() == 1
    nameless = services.find_or_create_contact("someone@elsewhere.net")
    assert nameless.name == "someone@elsewhere.net" and nameless.organization is None


def test_find_or_create_refuses_bad_address():
    with pytest.raises(ValidationFailed) as exc:
        services.find_or_create_contact("not an address")
    assert "email" in exc.value.fields


def test_merge_moves_emails_and_marks_source(acme, se, published, make_staff):
    source = services.create_contact(
        name="J. Doe", emails=["jdoe@acme.com", "jd@home.example"], phone="123"
    )
    target = services.create_contact(
        name="Jane Doe", emails=["jane@example.net"], organization=None
    )
    published.clear()
    survivor = services.merge_contacts(source, target, actor=se)
    assert survivor == target
    source.refresh_from_db()
    target.refresh_from_db()
    assert source.merged_into == target
    assert emails_of(source) == []
    assert emails_of(target) == ["jane@example.net", "jdoe@acme.com", "jd@home.example"]
    assert target.primary_email == "jane@example.net"
    # blanks of the target are filled from the source
    assert target.organization == acme and target.phone == "123"
    merged = [e for e in published if e.type == "contact.merged"]
    assert len(merged) == 1
    assert merged[0].data["source_id"] == source.pk
    assert merged[0].data["target_id"] == target.pk
    assert merged[0].actor_id == se.pk
    # both timelines show the merge
    assert (
        AuditEvent.objects.filter(type="contact.merged", subject_id__in=[source.pk, target.pk])
        .values_list("subject_id", flat=True)
        .distinct()
        .count()
        == 2
    )
    # look-ups by the source's old address now find the survivor
    assert services.find_or_create_contact("JDOE@acme.com") == target


def test_find_or_create_follows_merged_into_chain():
    a = services.create_contact(name="A", emails=["a@example.com"])
    b = services.create_contact(name="B", emails=["b@example.com"])
    c = services.create_contact(name="C", emails=["c@example.com"])
    services.merge_contacts(a, b)
    services.merge_contacts(b, c)
    a.refresh_from_db()
    assert a.merged_into == c  # earlier merges re-pointed at the survivor
    # even a stale email row left on a merged contact resolves to the survivor
    ContactEmail.objects.create(contact=a, email="stale@example.com")
    assert services.find_or_create_contact("stale@example.com") == c
    assert services.resolve_merged(a) == c


def test_merge_refusals():
    a = services.create_contact(name="A", emails=["a@example.com"])
    b = services.create_contact(name="B", emails=["b@example.com"])
    c = services.create_contact(name="C", emails=["c@example.com"])
    with pytest.raises(ValidationFailed):
        services.merge_contacts(a, a)
    services.merge_contacts(b, c)
    with pytest.raises(Conflict) as exc:
        services.merge_contacts(a, b)  # b is merged itself
    assert "into" in exc.value.fields
    with pytest.raises(Conflict):
        services.merge_contacts(b, a)  # b is already merged
    with pytest.raises(NotFound):
        services.merge_contacts(a, 999_999)
    a.refresh_from_db()
    assert a.merged_into is None and emails_of(a) == ["a@example.com"]


def test_merge_moves_portal_user_when_target_has_none():
    a = services.create_contact(name="A", emails=["a@example.com"])
    b = services.create_contact(name="B", emails=["b@example.com"])
    user = User.objects.create_user(
        username="a@example.com", email="a@example.com", kind=User.Kind.CUSTOMER, contact=a
    )
    services.merge_contacts(a, b)
    user.refresh_from_db()
    assert user.contact == b


def test_merged_contact_cannot_be_updated():
    a = services.create_contact(name="A", emails=["a@example.com"])
    b = services.create_contact(name="B", emails=["b@example.com"])
    services.merge_contacts(a, b)
    with pytest.raises(Conflict):
        services.update_contact(a, name="Z")
