"""Refresh looks jobs up in an index (constant time per job); it answers exactly as find_job does."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from nimctl.plan.refresh import JobIndex, find_job
from nimctl.providers.base import JobInfo, JobState

JOBS = st.lists(
    st.builds(
        JobInfo,
        id=st.sampled_from(["a", "b", "c", "d"]),
        name=st.sampled_from(["x", "y", "z"]),
        state=st.sampled_from(list(JobState)),
        platform_state=st.just("s"),
        spec=st.just({}),
        created_at=st.one_of(st.none(), st.sampled_from([1.0, 2.0, 3.0])),
    ),
    max_size=8,
)


@settings(max_examples=500, deadline=None)
@given(JOBS, st.sampled_from(["x", "y", "z", "w"]), st.one_of(st.none(), st.sampled_from(["a", "b", "e", ""])))
def test_index_finds_what_find_job_finds(jobs, name, job_id) -> None:
    assert JobIndex(jobs).find(name=name, job_id=job_id) == find_job(jobs, name=name, job_id=job_id)
