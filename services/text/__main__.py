"""python -m services.text --config mesh.json"""
from mediamesh.audio.voice_activity import MODEL as VAD_MODEL
from mediamesh.ocr_reader import DETECTION_MODEL, RECOGNITION_MODEL
from mediamesh.service_runtime import run_service, triton_models_ready
from services.text.embedder import MODEL as EMBEDDING_MODEL
from services.text.servicer import bindings
from services.text.transcriber import DECODER, ENCODER

if __name__ == "__main__":
    run_service("text", bindings, triton_models_ready([DETECTION_MODEL, RECOGNITION_MODEL,
                                                        EMBEDDING_MODEL, VAD_MODEL, ENCODER,
                                                        DECODER]))
