"""The "Untrusted recipes" section of ``docs/recipes.md`` (rendered by
:mod:`mlctl.recipe.docs`): trusted prefixes, redaction and data read limits."""

UNTRUSTED = """\
## Untrusted recipes

A recipe may come from someone else (a pull request, a shared project). Validating
or showing it must not run its author's code, leak the secrets of whoever runs it,
or exhaust the machine. What mlctl guarantees:

### Trusted class prefixes

A `_target_` class is imported only when its path is under `sklearn.`, `mlctl.` or a
prefix **the person running mlctl** trusts:

- `--trust-prefix PREFIX` on `run`, `validate`, `show`, `predict`, `serve`,
  `monitor`, `deploy` and `import-recipe` (repeatable), or
- `MLCTL_TRUSTED_PREFIXES=lightgbm,my_company.models` in the environment (comma- or
  space-separated; sweep jobs inherit it).

The recipe itself can never widen the allowlist. `models.allowed_prefixes` is only a
*request*: when it names a prefix the user has not trusted, the recipe is refused
(exit 4) with `models.allowed_prefixes: asks to trust X, which you have not
trusted`, and the hint names the flag and the variable. The prefix is checked before
anything is imported, the class's real module (`cls.__module__`) must be under an
allowed prefix too (a class re-exported by an allowed module does not count), and it
must have `fit` and `get_params` before mlctl builds it.

Other ways a recipe could name code are closed too:

- YAML tags that build objects (`!!python/object/apply:...`, `!!python/name:...`)
  are refused by the YAML reader (`tag not allowed`, with `file:line`).
- Only OmegaConf's own resolvers (`${oc.env:...}`, `${oc.decode:...}`, ...) exist;
  `${anything_else:...}` is a recipe error naming the key.
- The recipe's `hydra.searchpath` is always replaced by mlctl's (a `pkg://` entry
  would import a package while composing).
- `mlctl run -m` checks every `_target_`, `()` and `class` of the composed `hydra`
  section (sweeper, launcher, callbacks, logging handlers) and every `ext://`
  reference: only Hydra's modules (`hydra.`, `hydra_plugins.`, `optuna.`, `logging.`,
  `colorlog.`) and trusted prefixes pass; anything else is refused (exit 4, naming
  the key path, e.g. `hydra.callbacks.x._target_`) before any job starts. So are
  `hydra.job.env_set` (it would set, say, `MLCTL_TRUSTED_PREFIXES` or `PYTHONPATH`
  for every job) and a `hydra.sweep.subdir` that leaves the sweep folder.

### Secrets are masked

Values read through `${oc.env:NAME}` are resolved for the commands that use them
(`serve`, `monitor`, training), but every copy meant for people or stores is masked
with `***` by one function (`mlctl/redact.py`): MLflow params, tags, run and
experiment names and artifacts (`recipe.yaml`, the sweep's JSON, monitoring
results), `report.html`/`report.md`, the output of `mlctl show`, `validate`, `run`
and their `--json` documents, and every error message. Masked are:

- the password of any URL: `postgresql://app:***@db:5432/predlog`;
- the value of a query parameter or `key=value` pair named like a secret
  (`?token=***`, `password=***`);
- the string value of any key named like a secret (`*password*`, `*passwd*`, `*_pass`, `*secret*`,
  `*token*`, `*key`, `api_key`, `*credential*`), except the keys that hold a name
  (`deploy.serve.api_key_env`, `deploy.serve.traffic.sticky_key`,
  `deploy.k8s.secret`) and column names;
- the value of any `${oc.env:NAME}` whose NAME is named like a secret (e.g.
  `${oc.env:SERVICE_TOKEN}`), wherever the recipe copies it.

`mlctl show` prints the recipe resolved, with these values masked.

### Data read limits

Before any data file is parsed (`run`, `validate`, `init`, `predict`,
`monitor --current`), mlctl measures it: a plain file by its size, a compressed one
(`.gz`, `.bz2`, `.xz`, `.zip`, `.zst`, `.tar*`) by streaming it through the
decompressor without keeping anything, a Parquet file by the uncompressed size its
metadata declares (or 8 bytes per declared value, whichever is larger). Over the
limit the command stops with exit 4:
`data.source: data/x.csv.gz holds more than 1.0 GiB decompressed (from 1.2 MiB on
disk), more than the limit of 1.0 GiB (MLCTL_MAX_DATA_BYTES)` and a hint to raise
it. The limit is `MLCTL_MAX_DATA_BYTES` (bytes or a size such as `500MB`, `4GiB`;
default 1 GiB per file), set by the person running mlctl; a value that is not a
size is a usage error (exit 2). Memory stays flat while a compressed file is
measured, so a "gzip bomb" costs CPU time up to the limit, not memory.
"""
