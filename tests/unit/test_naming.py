from runner_fleet import naming


def test_names_are_deterministic_and_short() -> None:
    """The same job always gets the same name, short enough for a Linux computer name."""
    first = naming.runner_name("aks-prod", "github", "2832853555")
    assert first == naming.runner_name("aks-prod", "github", "2832853555")
    assert first != naming.runner_name("aks-prod", "github", "2832853556")
    assert first != naming.runner_name("aks-prod", "gitlab", "2832853555")
    assert len(naming.runner_name("a" * 20, "github", "1")) <= 64


def test_pool_is_parsed_back_from_a_name() -> None:
    """A runner name tells its pool, including pool names containing dashes."""
    assert naming.pool_of(naming.runner_name("aks-prod-gpu", "github", "9")) == "aks-prod-gpu"


def test_foreign_names_are_not_ours() -> None:
    """GitHub-hosted and hand-made runner names are not recognised."""
    for name in (None, "", "GitHub Actions 7", "rf-aks-prod", "rf-aks-prod-XYZ0123456", "xrf-a-0123456789"):
        assert naming.pool_of(name) is None
