"""Composes rendered veRL overrides with veRL's own Hydra config, as main_ppo and fsdp_sft_trainer would.

Input (argv[1], JSON): {"compose": [{"id", "config": "ppo_trainer" | "sft_trainer", "overrides": [...], "select": [...]}],
                        "files": [{"id", "kind": "interaction" | "agent", "text"}]}
Output (stdout, JSON): {"compose": [{"id", "error" | "values"}], "files": [{"id", "error" | "value"}]}

The config files come from the installed verl==0.6.0 wheel (installed without dependencies: only its YAML is
needed, so verl itself is never imported). One process composes every case, to keep the test fast.

Speed: hydra.compose() rebuilds the defaults list of ppo_trainer for every call (~0.4 s). compose_fast runs the
same steps as Hydra's ConfigLoaderImpl._load_configuration_impl (parse, sweep check, defaults list, compose, struct
mode, apply overrides), memoizing the defaults-list composition, which depends only on the config-group overrides,
and the config repository, which depends only on hydra.searchpath overrides.
Each config's first case is also composed with the public hydra.compose() and must give the same config.
"""

import copy
import importlib.util
import json
import os
import sys
import tempfile

from hydra import compose, initialize_config_dir
from hydra._internal.config_loader_impl import ConfigLoaderImpl
from hydra._internal.defaults_list import create_defaults_list
from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.types import RunMode
from omegaconf import OmegaConf, open_dict, read_write

_composed = {}
_repos = {}
_parser = OverridesParser.create()


def parse(loader, config_name, overrides):
    if any(o.lstrip("+~").startswith("hydra.") for o in overrides):
        return loader._parse_overrides_and_create_caching_repo(config_name, overrides)
    if config_name not in _repos:
        _repos[config_name] = loader._parse_overrides_and_create_caching_repo(config_name, [])[1]
    return _parser.parse_overrides(overrides=overrides), _repos[config_name]


def compose_fast(config_name, overrides):
    loader = GlobalHydra.instance().config_loader()
    parsed, repo = parse(loader, config_name, overrides)
    loader.validate_sweep_overrides_legal(overrides=parsed, run_mode=RunMode.RUN, from_shell=True)
    groups = [o for o in parsed if repo.group_exists(o.key_or_group) and not isinstance(o.value(), dict)]
    key = (config_name, tuple(o.input_line for o in groups))
    if key not in _composed:
        defaults = create_defaults_list(
            repo=repo, config_name=config_name, overrides_list=groups, prepend_hydra=True, skip_missing=False
        )
        _composed[key] = loader._compose_config_from_defaults_list(defaults=defaults.defaults, repo=repo)
    cfg = copy.deepcopy(_composed[key])
    OmegaConf.set_struct(cfg, True)
    OmegaConf.set_readonly(cfg.hydra, False)
    ConfigLoaderImpl._apply_overrides_to_config([o for o in parsed if all(o is not g for g in groups)], cfg)
    with read_write(cfg), open_dict(cfg):  # as hydra.compose() returns it
        del cfg["hydra"]
    return cfg


def same_as_hydra(config_name, overrides):
    """compose_fast agrees with Hydra's public API (guards the shortcut against Hydra changes)."""
    fast = OmegaConf.to_yaml(compose_fast(config_name, overrides))
    return fast == OmegaConf.to_yaml(compose(config_name=config_name, overrides=overrides))


def verl_config_dir():
    spec = importlib.util.find_spec("verl")  # finds the package without importing it (its imports need torch)
    return os.path.join(spec.submodule_search_locations[0], "trainer", "config")


def plain(value):
    return OmegaConf.to_container(value, resolve=True) if OmegaConf.is_config(value) else value


def compose_case(case):
    try:
        cfg = compose_fast(case["config"], case["overrides"])
    except Exception as e:  # Hydra's errors name the offending override
        return {"id": case["id"], "error": f"{type(e).__name__}: {e}"}
    return {"id": case["id"], "values": {key: plain(OmegaConf.select(cfg, key)) for key in case["select"]}}


def load_file(item):
    # The way veRL v0.6.0 reads them: OmegaConf.load on a path (interaction_registry.py, agent_loop.py).
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
        f.write(item["text"])
    try:
        return {"id": item["id"], "value": plain(OmegaConf.load(f.name))}
    except Exception as e:
        return {"id": item["id"], "error": f"{type(e).__name__}: {e}"}
    finally:
        os.unlink(f.name)


def main():
    with open(sys.argv[1]) as f:
        request = json.load(f)
    with initialize_config_dir(config_dir=verl_config_dir(), version_base=None):
        composed = [compose_case(c) for c in request["compose"]]
        for config in sorted({c["config"] for c in request["compose"]}):
            first = next(c for c in request["compose"] if c["config"] == config)
            ok = next(r for r in composed if r["id"] == first["id"])
            if "error" not in ok and not same_as_hydra(config, first["overrides"]):
                sys.exit(f"compose_fast and hydra.compose disagree on {first['id']}")
    files = [load_file(item) for item in request["files"]]
    json.dump({"compose": composed, "files": files}, sys.stdout)


if __name__ == "__main__":
    main()
