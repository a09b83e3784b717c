"""instructor_list: the instructors' list at 100,000 files (first page, two
filters and a sort, p95 under 150 ms server-side; SQL queries per page
constant in the number of rows).

The list is being built in another branch; until it is merged this scenario
reports "not measured". To measure it, replace ``run`` with: log in as the
demo instructor (``ctx.guichet_url()``), time the first page with the filters
over a bounded number of requests, and count the SQL statements per page on a
small and on the full data set.
"""

from __future__ import annotations

from bench.harness import Context, Result, not_measured

REASON = "the instructor list (issue 10, 100,000 files) is not in this branch yet"


def run(ctx: Context) -> list[Result]:
    return [not_measured("instructor_list.p95", REASON, unit="ms", target=150),
            not_measured("instructor_list.queries_per_page", REASON, unit="queries")]
