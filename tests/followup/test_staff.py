"""churnwatch.followup.staff: the staff directory the pages, SMS replies and escalation read."""

from __future__ import annotations

import datetime as dt

import msgspec

from churnwatch.followup.staff import StaffDirectory, StaffRecord
from churnwatch.followup.store import FollowUpStore

from .conftest import MONDAY_10, staff_event


def test_a_second_staff_event_replaces_the_record(both_stores: FollowUpStore) -> None:
    """The staff topic is an upsert: a later event for the same id is the record from then on."""
    moved = msgspec.structs.replace(
        staff_event("S-RM1", "王伟", "+8613800009999", "branch_head", "BR02"),
        language="en",
        branch_name="浦东支行",
    )
    both_stores.put_staff(moved, MONDAY_10 + dt.timedelta(days=1))
    assert both_stores.staff("S-RM1") == StaffRecord(
        "S-RM1", "王伟", "+8613800009999", "branch_head", "BR02", True, "en", "浦东支行"
    )
    assert both_stores.staff("S-NOBODY") is None


def test_a_phone_number_finds_one_active_person_or_nobody(store: FollowUpStore) -> None:
    """An SMS reply is acted on only when its number is exactly one active person's."""
    found = store.staff_by_phone("+8613800000001")
    assert found is not None and found.staff_id == "S-RM1"
    left = msgspec.structs.replace(
        staff_event("S-RM1", "王伟", "+8613800000001", "relationship_manager", "BR01"),
        active=False,
    )
    store.put_staff(left, MONDAY_10)
    assert store.staff_by_phone("+8613800000001") is None
    store.put_staff(staff_event("S-RM9", "Ann Li", "+8613800000002", "executive", "HQ"), MONDAY_10)
    assert store.staff_by_phone("+8613800000002") is None  # shared with S-RM2: ambiguous


def test_staff_with_a_role_are_the_active_ones_in_id_order(store: FollowUpStore) -> None:
    """Escalation's targets: active people of the role, of one branch when it is given."""
    store.put_staff(
        msgspec.structs.replace(
            staff_event("S-RM2", "Lily Zhao", "+8613800000002", "relationship_manager", "BR01"),
            active=False,
        ),
        MONDAY_10,
    )
    managers = store.staff_with_role("relationship_manager")
    assert [s.staff_id for s in managers] == ["S-RM1", "S-RM3"]
    heads = store.staff_with_role("branch_head", "BR02")
    assert [s.staff_id for s in heads] == ["S-BH2"]


def test_names_of_branches_and_people_for_reports(store: FollowUpStore) -> None:
    """Branches are named only by records that carry a name; every person is named."""
    assert store.branch_names() == {}
    named = msgspec.structs.replace(
        staff_event("S-BH1", "黄芳", "+8613800000011", "branch_head", "BR01"),
        branch_name="静安支行",
    )
    store.put_staff(named, MONDAY_10)
    assert store.branch_names() == {"BR01": "静安支行"}
    assert store.staff_names()["S-EX1"] == "陈强"


def test_the_follow_up_store_is_a_staff_directory(store: FollowUpStore) -> None:
    """The pages ask the follow-up store for people: it is the directory, on the same engine."""
    directory = StaffDirectory(store.engine)
    assert isinstance(store, StaffDirectory)
    assert directory.staff("S-EX1") == store.staff("S-EX1")
