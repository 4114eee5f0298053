"""AudioService: AnalyzeLoudness is built; the other RPCs answer UNIMPLEMENTED (the generated
base class, mapped by the shared interceptor) until issue 4 lands them."""
from __future__ import annotations

import asyncio
import math

import grpc
import numpy as np

from mediamesh import media
from mediamesh.errors import InvalidArgument, MediaUndecodable
from mediamesh.grpc_server import ServiceBinding
from mediamesh.protocol import time_range
from mediamesh.service_runtime import ServiceContext
from mediamesh.v1 import audio_pb2, audio_pb2_grpc, common_pb2
from mediamesh.audio import loudness

ANALYSIS_RATE = 48_000  # BS.1770 is specified at 48 kHz; every input is measured there
MAX_SECONDS = 4 * 3600
FLOOR = -200.0  # how "silence" (-inf) travels in a double field


def _finite(value: float) -> float:
    return value if math.isfinite(value) else FLOOR


def _measure(samples: np.ndarray, sections: list[tuple[float, float | None]]
             ) -> audio_pb2.AnalyzeLoudnessResponse:
    report = loudness.analyze(samples, ANALYSIS_RATE)
    duration = samples.shape[-1] / ANALYSIS_RATE
    reply = audio_pb2.AnalyzeLoudnessResponse(
        integrated_lufs=_finite(report.integrated_lufs),
        loudness_range_lu=report.loudness_range_lu,
        true_peak_dbtp=_finite(report.true_peak_dbtp),
        sample_peak_dbfs=_finite(report.sample_peak_dbfs),
        momentary_max_lufs=_finite(report.momentary_max_lufs),
        short_term_max_lufs=_finite(report.short_term_max_lufs))
    for index, (start, end) in enumerate(sections):
        stop = min(end if end is not None else duration, duration)
        if start >= duration:
            raise InvalidArgument(f"sections[{index}] starts at {start:.3f} s, after the end "
                                  f"of the audio ({duration:.3f} s)", field_name="sections")
        part = samples[:, int(start * ANALYSIS_RATE):int(stop * ANALYSIS_RATE)]
        reply.sections.append(audio_pb2.SectionLoudness(
            range=common_pb2.TimeRange(start=start, end=stop),
            integrated_lufs=_finite(loudness.integrated_lufs(part, ANALYSIS_RATE)),
            true_peak_dbtp=_finite(loudness.true_peak(part, ANALYSIS_RATE))))
    return reply


class AudioServicer(audio_pb2_grpc.AudioServiceServicer):
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    async def AnalyzeLoudness(self, request: audio_pb2.AnalyzeLoudnessRequest,  # noqa: N802
                              context: grpc.aio.ServicerContext
                              ) -> audio_pb2.AnalyzeLoudnessResponse:
        sections = [time_range(r, f"sections[{i}]") for i, r in enumerate(request.sections)]
        async with self.ctx.store.local_file(request.audio, "audio") as path:
            try:
                info = await asyncio.to_thread(media.probe, path)
                if not info.has_audio:
                    raise InvalidArgument("audio has no audio stream", field_name="audio")
                if info.duration > MAX_SECONDS:
                    raise InvalidArgument(f"audio is {info.duration:.0f} s long; the limit is "
                                          f"{MAX_SECONDS} s", field_name="audio")
                if (info.channels or 0) > len(loudness.CHANNEL_WEIGHTS):
                    raise InvalidArgument(f"audio has {info.channels} channels; loudness is "
                                          "measured on up to 5 (L R C Ls Rs)",
                                          field_name="audio")
                samples = await asyncio.to_thread(media.decode_audio, path, ANALYSIS_RATE, False)
            except media.MediaError as exc:
                raise MediaUndecodable(f"audio: {exc}", field_name="audio") from exc
        if samples.ndim == 1:
            samples = samples[None]
        return await asyncio.to_thread(_measure, samples, sections)


def bindings(ctx: ServiceContext) -> list[ServiceBinding]:
    return [ServiceBinding.of(AudioServicer(ctx), audio_pb2, audio_pb2_grpc, "AudioService")]
