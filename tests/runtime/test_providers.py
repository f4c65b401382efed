import pytest

from graphspec.errors import ExitCode, GraphspecError
from graphspec.runtime import providers


def test_cpu_is_always_available():
    assert providers.resolve("cpu") == ["CPUExecutionProvider"]
    assert "cpu" in providers.available()


def test_auto_follows_the_environment(monkeypatch):
    monkeypatch.setenv("GRAPHSPEC_PROVIDER", "cpu")
    assert providers.resolve("auto") == ["CPUExecutionProvider"]
    assert providers.resolve(None) == ["CPUExecutionProvider"]


def test_auto_without_a_gpu_is_cpu_only(monkeypatch):
    monkeypatch.delenv("GRAPHSPEC_PROVIDER", raising=False)
    monkeypatch.setattr(providers, "gpu_present", lambda: False)
    assert providers.resolve("auto") == ["CPUExecutionProvider"]


@pytest.mark.parametrize("name", ["cuda", "tensorrt"])
def test_forcing_a_gpu_provider_without_a_gpu_is_exit_9(monkeypatch, name):
    monkeypatch.setattr(providers, "gpu_present", lambda: False)
    with pytest.raises(GraphspecError) as info:
        providers.resolve(name)
    d = info.value.diagnostics[0]
    assert d.code == "provider"
    assert info.value.exit_code == ExitCode.DEPENDENCY == 9
    assert "GPU" in d.message and "--provider cpu" in d.hint


def test_provider_not_built_in(monkeypatch):
    ort = providers.quiet_onnxruntime()
    monkeypatch.setattr(ort, "get_available_providers", lambda: ["CPUExecutionProvider"])
    monkeypatch.setattr(providers, "gpu_present", lambda: True)
    with pytest.raises(GraphspecError) as info:
        providers.resolve("cuda")
    assert info.value.diagnostics[0].code == "provider"
    assert "not built into" in info.value.diagnostics[0].message


def test_unknown_provider_is_usage():
    with pytest.raises(GraphspecError) as info:
        providers.resolve("npu")
    assert info.value.exit_code == ExitCode.USAGE


def test_cuda_visible_devices_hides_gpus(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert providers.gpu_present() is False


def test_gpu_auto_picks_cuda_then_cpu(monkeypatch):
    ort = providers.quiet_onnxruntime()
    monkeypatch.delenv("GRAPHSPEC_PROVIDER", raising=False)
    monkeypatch.setattr(ort, "get_available_providers", lambda: ["CUDAExecutionProvider", "CPUExecutionProvider"])
    monkeypatch.setattr(providers, "gpu_present", lambda: True)
    monkeypatch.setattr(providers, "_preload_cuda_libraries", lambda ort: None)
    assert providers.resolve("auto") == ["CUDAExecutionProvider", "CPUExecutionProvider"]
    opts = providers.provider_options(["CUDAExecutionProvider", "CPUExecutionProvider"], tf32=False)
    assert opts[0]["use_tf32"] == "0" and opts[1] == {}


def test_physical_cores_is_positive():
    assert providers.physical_cores() >= 1
