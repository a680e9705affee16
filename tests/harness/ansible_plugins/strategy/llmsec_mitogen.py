"""The test harness's Ansible strategy: Mitogen's linear strategy, which runs every task of a host in one
Python interpreter it keeps there instead of starting Python (and unpacking the module) per task.

Mitogen takes over the connections it knows by their short names (`docker`, `ssh`); Molecule's Docker
driver names the connection `community.docker.docker`, so that name is handed to Mitogen as `docker`.
Only the tests use this (.config/molecule/config.yml names it); the collection never depends on Mitogen.
"""

import ansible_mitogen.loaders
import ansible_mitogen.strategy

FQCN = {"community.docker.docker": "docker"}
ansible_mitogen.strategy.REDIRECTED_CONNECTION_PLUGINS = tuple(
    ansible_mitogen.strategy.REDIRECTED_CONNECTION_PLUGINS) + tuple(FQCN)
_mitogen_get_with_context = ansible_mitogen.strategy.wrap_connection_loader__get_with_context


def _get_with_context(name, *args, **kwargs):
    return _mitogen_get_with_context(FQCN.get(name, name), *args, **kwargs)


ansible_mitogen.strategy.wrap_connection_loader__get_with_context = _get_with_context

Base = ansible_mitogen.loaders.strategy_loader.get("linear", class_only=True)


class StrategyModule(ansible_mitogen.strategy.StrategyMixin, Base):
    pass
