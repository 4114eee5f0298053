"""AudioService: rhythm, chorus and loudness analysis. The servicer validates and decodes;
the algorithms live in their own modules (rhythm, chorus, mediamesh.audio.loudness)."""
from __future__ import annotations

import grpc
import numpy as np

from mediamesh.audio import loudness, spectral
from mediamesh.errors import InvalidArgument
from mediamesh.grpc_server import ServiceBinding
from mediamesh.media_inputs import check_decoded_samples, decode_audio_input, probe_audio
from mediamesh.protocol import time_range
from mediamesh.service_runtime import ServiceContext
from mediamesh.v1 import audio_pb2, audio_pb2_grpc, common_pb2
from mediamesh.worker_threads import run_in_thread
from services.audio import chorus, rhythm, speech
from services.audio.bars import FrameFeatures
from services.audio.frame_cache import FrameCache, file_digest
from services.audio.synthesis_servicer import SpeechSynthesisMixin

ANALYSIS_RATE = 48_000  # BS.1770 is specified at 48 kHz; every input is measured there


def _measure(samples: np.ndarray, sections: list[tuple[float, float | None]]
             ) -> audio_pb2.AnalyzeLoudnessResponse:
    report = loudness.analyze(samples, ANALYSIS_RATE)
    duration = samples.shape[-1] / ANALYSIS_RATE
    reply = audio_pb2.AnalyzeLoudnessResponse(
        integrated_lufs=loudness.reportable(report.integrated_lufs),
        loudness_range_lu=report.loudness_range_lu,
        true_peak_dbtp=loudness.reportable(report.true_peak_dbtp),
        sample_peak_dbfs=loudness.reportable(report.sample_peak_dbfs),
        momentary_max_lufs=loudness.reportable(report.momentary_max_lufs),
        short_term_max_lufs=loudness.reportable(report.short_term_max_lufs))
    for index, (start, end) in enumerate(sections):
        stop = min(end if end is not None else duration, duration)
        if start >= duration:
            raise InvalidArgument(f"sections[{index}] starts at {start:.3f} s, after the end "
                                  f"of the audio ({duration:.3f} s)", field_name="sections")
        part = samples[:, int(start * ANALYSIS_RATE):int(stop * ANALYSIS_RATE)]
        reply.sections.append(audio_pb2.SectionLoudness(
            range=common_pb2.TimeRange(start=start, end=stop),
            integrated_lufs=loudness.reportable(loudness.integrated_lufs(part, ANALYSIS_RATE)),
            true_peak_dbtp=loudness.reportable(loudness.true_peak(part, ANALYSIS_RATE))))
    return reply


class AudioServicer(SpeechSynthesisMixin, audio_pb2_grpc.AudioServiceServicer):
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
        self.frames = FrameCache(ctx.settings.analysis_cache_mb << 20)

    async def _frames(self, spectrum: np.ndarray, digest: str) -> FrameFeatures:
        """The song's FrameFeatures, kept under `digest` (the whole file's) for a
        DetectChorus that follows."""
        frames = await run_in_thread(FrameFeatures.of, spectrum)
        self.frames.put(digest, frames)
        return frames

    async def AnalyzeLoudness(self, request: audio_pb2.AnalyzeLoudnessRequest,  # noqa: N802
                              context: grpc.aio.ServicerContext
                              ) -> audio_pb2.AnalyzeLoudnessResponse:
        sections = [time_range(r, f"sections[{i}]") for i, r in enumerate(request.sections)]
        async with self.ctx.store.local_file(request.audio, "audio") as path:
            info = await probe_audio(path, "audio")
            if (info.channels or 0) > len(loudness.CHANNEL_WEIGHTS):
                raise InvalidArgument(f"audio has {info.channels} channels; loudness is "
                                      "measured on up to 5 (L R C Ls Rs)", field_name="audio")
            check_decoded_samples(info, ANALYSIS_RATE, info.channels or 1, "audio",
                                  "AnalyzeLoudness")
            samples = await decode_audio_input(path, "audio", ANALYSIS_RATE, mono=False)
        if samples.ndim == 1:
            samples = samples[None]
        return await run_in_thread(_measure, samples, sections)


    async def AnalyzeRhythm(self, request: audio_pb2.AnalyzeRhythmRequest,  # noqa: N802
                            context: grpc.aio.ServicerContext
                            ) -> audio_pb2.AnalyzeRhythmResponse:
        options = rhythm.RhythmOptions.from_request(request)
        madmom = options.model == rhythm.MADMOM
        if madmom:
            await rhythm.require_madmom(self.ctx.triton)
        rate = rhythm.MADMOM_RATE if madmom else spectral.RATE
        whole = not request.HasField("range")
        start, end = (0.0, None) if whole else time_range(request.range)
        async with self.ctx.store.local_file(request.audio, "audio") as path:
            info = await probe_audio(path, "audio", min_seconds=rhythm.MIN_SECONDS,
                                     max_seconds=self.ctx.settings.max_song_seconds)
            span = None if end is None else end - start
            mono = await decode_audio_input(path, "audio", rate, start=start, duration=span)
            digest = await run_in_thread(file_digest, path) if whole and not madmom \
                else None
        rhythm.check_audible(mono, "audio", rate)
        duration = info.duration or len(mono) / rate
        if madmom:  # 44.1 kHz: no 24 kHz spectrogram to leave for DetectChorus
            reply = await rhythm.analyze_madmom(self.ctx.triton, mono, options, start,
                                                duration)
        else:
            spectrum = await run_in_thread(spectral.spectrogram, mono)
            if digest is not None:  # a whole song: its chorus request may follow
                await self._frames(spectrum, digest)
            reply = await rhythm.analyze(self.ctx.triton, mono, options, start, duration,
                                         spectrum)
        reply.audio.CopyFrom(request.audio)
        return reply

    async def DetectChorus(self, request: audio_pb2.DetectChorusRequest,  # noqa: N802
                           context: grpc.aio.ServicerContext
                           ) -> audio_pb2.DetectChorusResponse:
        lo, hi = request.min_duration, request.max_duration
        if lo < 0 or hi < 0 or (hi and lo > hi):
            raise InvalidArgument(f"chorus duration bounds {lo:g}..{hi:g} s are not usable: "
                                  "need 0 <= min_duration <= max_duration (0 = default)",
                                  field_name="min_duration")
        grid = request.rhythm if request.HasField("rhythm") else None
        if grid is not None and len(grid.beats) != len(grid.beat_positions):
            raise InvalidArgument("rhythm.beats and rhythm.beat_positions differ in length: "
                                  "pass an AnalyzeRhythm response unchanged",
                                  field_name="rhythm")
        if grid is not None and len(grid.beats) < 4:
            grid = None  # too few beats to build bars on: track the song here
        frames, grid, duration = await self._chorus_inputs(request.audio, grid)
        positions = np.array([b.position_in_bar for b in grid.beat_positions], np.int64)
        analysis = await run_in_thread(
            chorus.detect, frames, np.array(grid.beats), positions, grid.beats_per_bar or 4,
            min_duration=lo, max_duration=hi, max_alternatives=request.max_alternatives)
        reply = chorus.to_response(analysis)
        reply.duration = duration
        reply.audio.CopyFrom(request.audio)
        reply.rhythm.CopyFrom(grid)
        return reply

    async def _chorus_inputs(self, audio: common_pb2.MediaRef,
                             grid: audio_pb2.AnalyzeRhythmResponse | None
                             ) -> tuple[FrameFeatures, audio_pb2.AnalyzeRhythmResponse, float]:
        """The song's FrameFeatures (from the cache when its AnalyzeRhythm left them there),
        its beat grid (tracked here when the request brings none) and its duration."""
        async with self.ctx.store.local_file(audio, "audio") as path:
            info = await probe_audio(path, "audio", min_seconds=rhythm.MIN_SECONDS,
                                     max_seconds=self.ctx.settings.max_song_seconds)
            digest = await run_in_thread(file_digest, path)
            cached = self.frames.get(digest)  # its song passed check_audible to get there
            if cached is not None and grid is not None:
                return cached, grid, info.duration or (len(cached) - 1) / spectral.FPS
            mono = await decode_audio_input(path, "audio", spectral.RATE)
        rhythm.check_audible(mono, "audio")
        spectrum = await run_in_thread(spectral.spectrogram, mono)
        frames = await self._frames(spectrum, digest)
        duration = info.duration or len(mono) / spectral.RATE
        if grid is None:
            grid = await rhythm.analyze(self.ctx.triton, mono, rhythm.RhythmOptions.default(),
                                        0.0, duration, spectrum)
            grid.audio.CopyFrom(audio)
        return frames, grid, duration

    async def DetectSpeech(self, request: audio_pb2.DetectSpeechRequest,  # noqa: N802
                           context: grpc.aio.ServicerContext) -> audio_pb2.DetectSpeechResponse:
        options = speech.SpeechOptions.from_request(request)
        async with self.ctx.store.local_file(request.audio, "audio") as path:
            info = await probe_audio(path, "audio")
            check_decoded_samples(info, speech.RATE, 1, "audio", "DetectSpeech")
            mono = await decode_audio_input(path, "audio", speech.RATE)
        duration = info.duration or len(mono) / speech.RATE
        if len(mono) == 0:
            return speech.to_response([], duration)
        probs = await speech.probabilities(self.ctx.triton, mono)
        return speech.to_response(speech.segments(probs, options, duration), duration)


def bindings(ctx: ServiceContext) -> list[ServiceBinding]:
    return [ServiceBinding.of(AudioServicer(ctx), audio_pb2, audio_pb2_grpc, "AudioService")]
