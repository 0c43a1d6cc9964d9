"""A CPU platform for verl 0.9.1, registered through verl's own platform registry (runs INSIDE the verl env).

verl resolves its device once per process (``verl/plugin/platform/platform_manager.py`` ``get_platform``): from
``VERL_PLATFORM``, else by probing the registered platforms, else ``nvidia``. ``verl/__init__.py`` imports the
modules named in ``VERL_USE_EXTERNAL_MODULES`` first, in every process that imports verl (Ray workers included,
when the variables reach them), so::

    VERL_USE_EXTERNAL_MODULES=bridge.backends.verl.cpu_platform VERL_PLATFORM=cpu

gives verl ``device_name == "cpu"`` (FSDP, tensors and RNG on the CPU), gloo for ``torch.distributed`` and
a declared Ray ``GPU`` as the slot a worker asks for (``ray_resource_options``), so a Ray cluster started with
``num_gpus=n`` (declared, nothing probed) places verl's workers. Set by ``cpu_stages`` (tests/test_verl_cpu.py) and,
by hand, for ``main_ppo`` on CPU (docs/backends.md, "verl on CPU").
"""
from __future__ import annotations

import os
import types
from contextlib import contextmanager, nullcontext
from typing import Any, Optional

import torch
from verl.plugin.platform.platform_base import PlatformBase
from verl.plugin.platform.platform_manager import PlatformRegistry

NAME = "cpu"


def _one_gloo(init_process_group):
    """verl joins its CPU and device backends into ``f"cpu:gloo,{device}:{backend}"`` with no switch
    (verl/utils/distributed.py:63 and :89); on this platform that is ``cpu:gloo,cpu:gloo``, which torch refuses
    ("Duplicate device type cpu"). The one monkeypatch: that exact string becomes plain ``gloo``."""
    def init(*args, **kwargs):
        if kwargs.get("backend") == "cpu:gloo,cpu:gloo":
            kwargs["backend"] = "gloo"
        return init_process_group(*args, **kwargs)
    init._bridge_one_gloo = True
    return init


if not getattr(torch.distributed.init_process_group, "_bridge_one_gloo", False):
    torch.distributed.init_process_group = _one_gloo(torch.distributed.init_process_group)


def _device_module() -> types.ModuleType:
    """``torch.cpu`` plus the ``torch.cuda`` calls verl makes on ``get_torch_device()`` (memory queries, streams,
    RNG state) as CPU no-ops or the CPU generator's state."""
    m = types.ModuleType("bridge_verl_cpu_device")
    m.__dict__.update({k: getattr(torch.cpu, k) for k in dir(torch.cpu) if not k.startswith("_")})
    zero = lambda *a, **k: 0  # noqa: E731
    m.__dict__.update(
        is_available=lambda: True, device_count=lambda: 1, current_device=lambda: torch.device("cpu"),
        set_device=lambda *a: None,
        empty_cache=lambda: None, ipc_collect=lambda: None, synchronize=lambda *a, **k: None,
        memory_allocated=zero, memory_reserved=zero, max_memory_allocated=zero, max_memory_reserved=zero,
        reset_peak_memory_stats=lambda *a, **k: None, set_per_process_memory_fraction=lambda *a, **k: None,
        mem_get_info=lambda *a: (0, 0), get_device_name=lambda *a: "cpu",
        get_rng_state=lambda *a: torch.get_rng_state(), set_rng_state=lambda s, *a: torch.set_rng_state(s),
        manual_seed=torch.manual_seed, manual_seed_all=torch.manual_seed,
        stream=lambda *a, **k: nullcontext(), current_stream=torch.cpu.current_stream, Stream=torch.cpu.Stream,
        Event=torch.cpu.Event)
    return m


@PlatformRegistry.register(platform=NAME)
class PlatformCPU(PlatformBase):
    """verl on the CPU: gloo collectives, Ray's ``CPU`` resource, no IPC, no profiler."""

    _module = None

    device_name = property(lambda self: "cpu")
    vendor_name = property(lambda self: "cpu")

    @property
    def device_module(self) -> types.ModuleType:
        if PlatformCPU._module is None:
            PlatformCPU._module = _device_module()
        return PlatformCPU._module

    def is_available(self) -> bool:
        return True

    def is_platform_available(self, use_smi_check=False) -> bool:
        return os.environ.get("VERL_PLATFORM", "").strip().lower() == NAME   # never auto-detected over a GPU

    def current_device(self) -> torch.device:
        # verl passes get_device_id() straight to torch as a device (FSDP device_id, .to(), to_empty(): e.g.
        # verl/utils/fsdp_utils.py:507, verl/workers/engine/fsdp/transformer_impl.py:441), where an int means cuda:N
        return torch.device("cpu")

    def device_count(self) -> int:
        return 1

    def set_device(self, device_index: int) -> None:
        return None

    def synchronize(self, device_index: Optional[int] = None) -> None:
        return None

    def manual_seed(self, seed: int) -> None:
        torch.manual_seed(seed)

    def manual_seed_all(self, seed: int) -> None:
        torch.manual_seed(seed)

    def set_allocator_settings(self, settings: str) -> None:
        return None

    def empty_cache(self) -> None:
        return None

    def get_device_capability(self, device_index: int = 0) -> tuple[Optional[int], Optional[int]]:
        return None, None

    def communication_backend_name(self) -> str:
        return "gloo"

    def visible_devices_envvar(self) -> str:
        return "BRIDGE_VERL_CPU_VISIBLE_DEVICES"   # nothing to hide: a name no library reads

    @contextmanager
    def nvtx_range(self, msg: str):
        yield

    def profiler_start(self) -> None:
        return None

    def profiler_stop(self) -> None:
        return None

    def ray_resource_name(self) -> str:
        # verl's resource check counts only "GPU"/"NPU" (verl/single_controller/ray/base.py:229-230), so one
        # worker slot per process is a *declared* Ray GPU (ray.init(num_gpus=N) on a machine without one)
        return "GPU"

    def ray_resource_options(self, num_gpus: float) -> dict[str, Any]:
        return {"num_gpus": num_gpus}

    def ray_noset_envvars(self) -> list[str]:
        return []

    def is_ipc_supported(self) -> bool:
        return False

    def cudart(self) -> Any:
        return None
