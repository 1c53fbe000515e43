from runner_fleet.matching import match_github_pool
from tests.builders import make_pool

PROD = make_pool("aks-prod", ("aks-prod",))
PROD_GPU = make_pool("aks-prod-gpu", ("aks-prod", "gpu"))
DEV = make_pool("aks-dev", ("aks-dev", "helm"))
POOLS = [PROD_GPU, PROD, DEV]


def test_implied_labels_are_served() -> None:
    """self-hosted, linux and x64 are implied by every pool."""
    assert match_github_pool(["self-hosted", "linux", "x64", "aks-prod"], POOLS) is PROD


def test_every_job_label_must_be_served() -> None:
    """A job asking for a label no pool offers matches nothing."""
    assert match_github_pool(["self-hosted", "aks-prod", "windows"], POOLS) is None
    assert match_github_pool(["ubuntu-latest"], POOLS) is None


def test_most_specific_pool_wins() -> None:
    """Among matching pools the one with the fewest labels the job did not ask for wins."""
    assert match_github_pool(["aks-prod"], POOLS) is PROD
    assert match_github_pool(["aks-prod", "gpu"], POOLS) is PROD_GPU


def test_ties_go_to_configuration_order() -> None:
    """Two equally specific pools: the first configured wins."""
    twin_a, twin_b = make_pool("twin-a", ("shared",)), make_pool("twin-b", ("shared",))
    assert match_github_pool(["shared"], [twin_a, twin_b]) is twin_a
    assert match_github_pool(["shared"], [twin_b, twin_a]) is twin_b


def test_labels_compare_case_insensitively() -> None:
    """GitHub labels are case-insensitive."""
    assert match_github_pool(["Self-Hosted", "AKS-PROD"], POOLS) is PROD


def test_jobs_without_labels_match_nothing() -> None:
    """An empty label list is never taken."""
    assert match_github_pool([], POOLS) is None


def test_a_job_naming_only_implied_labels_matches_no_pool() -> None:
    """A job must name one of a pool's own labels: `self-hosted` or `[linux, x64]` alone take no runner."""
    assert match_github_pool(["self-hosted"], POOLS) is None
    assert match_github_pool(["linux", "x64"], POOLS) is None
    assert match_github_pool(["self-hosted", "linux", "x64"], POOLS) is None


def test_implied_labels_still_count_towards_every_label_being_served() -> None:
    """A job naming a pool label and implied labels is served; one implied label the pool lacks is not."""
    assert match_github_pool(["self-hosted", "x64", "aks-dev"], POOLS) is DEV
    assert match_github_pool(["self-hosted", "arm64", "aks-dev"], POOLS) is None


def test_jobs_of_public_repositories_match_only_pools_that_allow_them() -> None:
    """A public repository's job matches no pool unless a pool opts in with allow_public_repositories."""
    assert match_github_pool(["aks-prod"], POOLS, org="example-org", public=True) is None
    opted = make_pool(
        "oss",
        ("aks-prod",),
        github={"org": "example-org", "runner_group_id": 5, "allow_public_repositories": True},
    )
    assert match_github_pool(["aks-prod"], [PROD, opted], org="example-org", public=True) is opted
    assert match_github_pool(["aks-prod"], [PROD, opted], org="example-org", public=False) is PROD


def test_gitlab_pools_never_serve_github_jobs() -> None:
    """Pools of another forge are not candidates."""
    gitlab = make_pool("gl", ("aks-prod",), forge="gitlab", github=None, gitlab={"group_id": 4})
    assert match_github_pool(["aks-prod"], [gitlab]) is None


def test_only_pools_of_the_jobs_org_match() -> None:
    """A pool of another org never serves the job, even with matching labels."""
    other_org = make_pool("other", ("aks-prod",), github={"org": "someone-else"})
    assert match_github_pool(["aks-prod"], [other_org], org="example-org") is None
    assert match_github_pool(["aks-prod"], [other_org, PROD], org="EXAMPLE-ORG") is PROD


def test_a_pool_listing_repositories_serves_only_those() -> None:
    """A pool restricted to repositories serves jobs from them and no others."""
    scoped = make_pool(
        "scoped", ("deploy",), github={"org": "example-org", "repositories": ["platform-deploy"]}
    )
    assert match_github_pool(
        ["deploy"], [scoped], org="example-org", repository="example-org/platform-deploy"
    )
    assert (
        match_github_pool(["deploy"], [scoped], org="example-org", repository="example-org/website") is None
    )
