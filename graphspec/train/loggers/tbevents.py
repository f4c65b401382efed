"""TensorBoard event files, written with tensorboard's own writer and protos (no torch, no TensorFlow).

:class:`EventSink` turns the TensorBoard logger's messages into events; it runs
in a helper process (``python -m graphspec.train.loggers.tbevents RUN_DIR
PURGE_STEP``) because tensorboard checksums every record in pure Python, a
cost the training loop should not pay. Messages (JSON):

- ``{"scalars": [[step, walltime, {tag: value}], ...]}``
- ``{"text": [tag, markdown]}``
- ``{"hparams": [{name: value}, [metric tags]]}``
- ``{"end": "success" | "failure"}``
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

FLUSH_S = 10  # the writer's own periodic flush; the sink also flushes after every message


class EventSink:
    def __init__(self, run_dir: str | Path, purge_step: int | None = None) -> None:
        from tensorboard.summary.writer.event_file_writer import EventFileWriter

        self._writer = EventFileWriter(str(run_dir), flush_secs=FLUSH_S)
        self._hparams = False
        if purge_step is not None:  # hide what a killed session logged past its checkpoint
            from tensorboard.compat.proto.event_pb2 import Event, SessionLog

            self._writer.add_event(Event(step=purge_step, wall_time=time.time(), file_version="brain.Event:2"))
            self._writer.add_event(Event(step=purge_step, wall_time=time.time(), session_log=SessionLog(status=SessionLog.START)))

    def handle(self, msg: dict[str, Any]) -> None:
        if "scalars" in msg:
            for step, wall, values in msg["scalars"]:
                self._add(_scalars(values), step, wall)
        if "text" in msg:
            self._add(_text(*msg["text"]), 0)
        if "hparams" in msg:
            for summary in _hparams(*msg["hparams"]):
                self._add(summary, 0)
            self._hparams = True
        if "end" in msg and self._hparams:
            self._add(_session_end(msg["end"]), 0)
        self._writer.flush()

    def close(self) -> None:
        self._writer.close()

    def _add(self, summary, step: int, wall: float | None = None) -> None:
        from tensorboard.compat.proto.event_pb2 import Event

        self._writer.add_event(Event(summary=summary, step=int(step), wall_time=wall or time.time()))


def _scalars(values: dict[str, float]):
    from tensorboard.compat.proto.summary_pb2 import Summary

    return Summary(value=[Summary.Value(tag=k, simple_value=v) for k, v in values.items()])


def _text(tag: str, markdown: str):
    from tensorboard.compat.proto.summary_pb2 import Summary, SummaryMetadata
    from tensorboard.compat.proto.tensor_pb2 import TensorProto
    from tensorboard.compat.proto.tensor_shape_pb2 import TensorShapeProto
    from tensorboard.plugins.text.plugin_data_pb2 import TextPluginData

    meta = SummaryMetadata(plugin_data=SummaryMetadata.PluginData(plugin_name="text", content=TextPluginData(version=0).SerializeToString()))
    tensor = TensorProto(dtype="DT_STRING", string_val=[markdown.encode("utf-8")], tensor_shape=TensorShapeProto(dim=[TensorShapeProto.Dim(size=1)]))
    return Summary(value=[Summary.Value(tag=f"{tag}/text_summary", metadata=meta, tensor=tensor)])


def _plugin_summary(tag: str, **content):
    from tensorboard.compat.proto.summary_pb2 import Summary, SummaryMetadata
    from tensorboard.plugins.hparams.metadata import PLUGIN_DATA_VERSION, PLUGIN_NAME
    from tensorboard.plugins.hparams.plugin_data_pb2 import HParamsPluginData

    data = HParamsPluginData(version=PLUGIN_DATA_VERSION, **content).SerializeToString()
    meta = SummaryMetadata(plugin_data=SummaryMetadata.PluginData(plugin_name=PLUGIN_NAME, content=data))
    return Summary(value=[Summary.Value(tag=tag, metadata=meta)])


def _hparams(values: dict[str, Any], metric_tags: list[str]):
    """The HParams plugin's experiment and session-start summaries (what the HParams tab reads)."""
    from tensorboard.plugins.hparams.api_pb2 import (
        DataType,
        Experiment,
        HParamInfo,
        MetricInfo,
        MetricName,
    )
    from tensorboard.plugins.hparams.metadata import (
        EXPERIMENT_TAG,
        SESSION_START_INFO_TAG,
    )
    from tensorboard.plugins.hparams.plugin_data_pb2 import SessionStartInfo

    start, infos = SessionStartInfo(), []
    for k, v in values.items():
        if isinstance(v, bool):
            start.hparams[k].bool_value, kind = v, "DATA_TYPE_BOOL"
        elif isinstance(v, (int, float)):
            start.hparams[k].number_value, kind = float(v), "DATA_TYPE_FLOAT64"
        else:
            start.hparams[k].string_value, kind = str(v), "DATA_TYPE_STRING"
        infos.append(HParamInfo(name=k, type=DataType.Value(kind)))
    exp = Experiment(hparam_infos=infos, metric_infos=[MetricInfo(name=MetricName(tag=t)) for t in metric_tags])
    return [_plugin_summary(EXPERIMENT_TAG, experiment=exp), _plugin_summary(SESSION_START_INFO_TAG, session_start_info=start)]


def _session_end(status: str):
    from tensorboard.plugins.hparams.api_pb2 import Status
    from tensorboard.plugins.hparams.metadata import SESSION_END_INFO_TAG
    from tensorboard.plugins.hparams.plugin_data_pb2 import SessionEndInfo

    code = Status.Value("STATUS_SUCCESS" if status == "success" else "STATUS_FAILURE")
    return _plugin_summary(SESSION_END_INFO_TAG, session_end_info=SessionEndInfo(status=code, end_time_secs=time.time()))


def serve(run_dir: str, purge_step: int | None, stream=None) -> None:
    """The helper process: every message of ``stream`` (stdin) into the run's event file."""
    from graphspec.train.helper import messages

    sink = EventSink(run_dir, purge_step)
    try:
        for msg in messages(stream if stream is not None else sys.stdin):
            sink.handle(msg)
    finally:
        sink.close()


if __name__ == "__main__":  # pragma: no cover -- run as the helper process
    try:
        serve(sys.argv[1], int(sys.argv[2]) if sys.argv[2] != "-" else None)
    except BaseException:  # noqa: BLE001 -- the parent sees the exit code and writes in-process
        sys.exit(1)
