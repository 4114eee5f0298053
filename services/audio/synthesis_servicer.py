"""AudioService.SynthesizeSpeech, as a mixin of AudioServicer: the script checked and split,
each sentence said by espeak-ng in a worker thread, the narration written as one file."""
from __future__ import annotations

from collections.abc import AsyncIterator

import grpc

from mediamesh import media
from mediamesh.protocol import media_ref, mime_for, progress
from mediamesh.service_runtime import ServiceContext
from mediamesh.v1 import audio_pb2, common_pb2
from mediamesh.worker_threads import run_in_thread
from services.audio import narration


class SpeechSynthesisMixin:
    ctx: ServiceContext

    async def SynthesizeSpeech(self, request: audio_pb2.SynthesizeSpeechRequest,
                               context: grpc.aio.ServicerContext
                               ) -> AsyncIterator[audio_pb2.SynthesizeSpeechEvent]:
        spec = narration.narration_spec(request.text, request.language, request.pause,
                                        request.words_per_minute)
        narration.output_container(request.output.container, request.output.uri)
        total = len(spec.sentences) + 1
        spoken = []
        for i in range(len(spec.sentences)):
            yield audio_pb2.SynthesizeSpeechEvent(progress=progress(i, total, "speak"))
            spoken.append(await run_in_thread(narration.say_sentence, spec, i))
        said = narration.assemble(spoken, spec.pause)
        container = narration.output_container(request.output.container, request.output.uri)
        store = self.ctx.store
        output = await store.output_path(request.output.uri, container,
                                         overwrite=request.output.overwrite)
        yield audio_pb2.SynthesizeSpeechEvent(progress=progress(total - 1, total, "encode"))
        try:
            await run_in_thread(media.write_audio, output.path, said.samples, narration.RATE)
            published = await store.publish(output)
        except BaseException:
            output.path.unlink(missing_ok=True)  # never leave half a file
            raise
        yield audio_pb2.SynthesizeSpeechEvent(result=audio_pb2.SynthesizeSpeechResult(
            output=media_ref(output, mime_for(published)), duration=said.duration,
            sentences=[audio_pb2.SpokenSentence(
                text=text, range=common_pb2.TimeRange(start=start, end=end))
                for text, (start, end) in zip(spec.sentences, said.ranges)],
            language=spec.language, voice=spec.voice, sample_rate=narration.RATE))
