"""The one root of every error codemill raises on purpose, and the exit code each one means.

The hierarchy (exit code on the right; a class without one inherits its parent's):

* CodemillError                     1   the root; anything not below is an internal failure
  + UsageError                      2   the input, a setting or the repository is refused
    - ConfigError                       pipeline.config: a setting has a bad value
      · FleetFileError                  pipeline.fleet.fleetfile: a fleet file entry is wrong
      · ForecastOverLimit               pipeline.run.estimate: the forecast is over --max-cost
    - RecipeError                       pipeline.recipes.loading: a recipe file cannot be used
    - PackingError                      pipeline.fleet.packing: --repos-per-run is not a count or auto
    - RuffError                         pipeline.engines.ruff_fixes: a recipe's ruff is missing or failed
    - SourceError                       pipeline.source.files: the run cannot list its files
    - GitOpsError                       pipeline.repository: a git operation refused or failed
      · NotARepositoryError, BareRepositoryError, EmptyRepositoryError, UnknownBaseError,
        InvalidBranchError, BranchExistsError, BranchCheckedOutError, BadChangeError,
        UnknownRemoteError, CommitError, WorktreeError, NotInTreeError
      · CacheError                      pipeline.fleet.cache: the fleet's repository cache failed
    - GateError                         pipeline.gates.scratch: a gate cannot run on this input
      · BadEditError, BaseTestsFail (pipeline.gates.suite)
    - LedgerError                       pipeline.records.ledger: a ledger cannot be read or written
    - StateError                        pipeline.run.state: a state file or --since value
      · DamagedStateError               a state file that is not a run record (a run moves it aside)
    - DamagedCacheError                 pipeline.model.cache: a damaged cache that cannot be moved aside
    - ReplayError                       pipeline.run.replay: a run cannot be replayed as recorded
    - SelectionError                    pipeline.run.selection: a reviewer's selection cannot be used
    - ReportError                       pipeline.paths: a report or state cannot be written there
    - FleetStateError                   pipeline.fleet.memory: a fleet's memory cannot be used
    - ScheduleError                     flows.schedule: a schedule or deployment cannot be set up
  + PushError                       6   pipeline.repository: the branch is committed; its push was refused
  + ForgeError                      6   pipeline.forge: the forge refused or failed a pull request's request
    - ForgeUsageError               2   no token, or no forge repository in the remote's URL
  + CodemillModelError              1   pipeline.model.errors draws its own tree; per chunk, mostly
    + FatalModelError               3   every later request would fail the same way: stop the run
      · BadRequest, AuthenticationError, InsufficientCredits,
        FatalProposalError (pipeline.engines.proposal)
      - ProviderUnreachable         5   pipeline.model.breaker: the endpoint cannot be reached
  - CodemodError                        pipeline.engines.codemod_module: a codemod failed on a file
  - ChunkMappingError                   pipeline.engines.codemod_module: a change no chunk covers
  - ChunkingError                       pipeline.source.spans: libcst cannot regenerate a module
  - UnsafeParse                         pipeline.source.guard: text nested too deeply for libcst

Every `str()` is one sentence for the user; the command line prints it and exits with `exit_code`.
"""

from __future__ import annotations

from enum import IntEnum
from typing import ClassVar


class ExitCode(IntEnum):
    """The documented exit codes of the `codemill` command."""

    DONE = 0
    INTERNAL = 1
    USAGE = 2
    PROVIDER = 3
    CHANGES = 4
    UNREACHABLE = 5  # the model endpoint cannot be reached, or chunks failed for provider reasons
    PUSH_FAILED = 6  # the branch is committed and the report written; the push was refused
    SIGNAL_BASE = 128  # interrupted: 128 + the signal's number (130 SIGINT, 143 SIGTERM)


class CodemillError(Exception):
    """Base class of every error codemill raises on purpose; `exit_code` is what the CLI exits with."""

    exit_code: ClassVar[int] = ExitCode.INTERNAL


class UsageError(CodemillError):
    """The user's input, a setting, or the repository's state is refused: fix it and rerun."""

    exit_code: ClassVar[int] = ExitCode.USAGE
