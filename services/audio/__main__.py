"""python -m services.audio --config mesh.json"""
from mediamesh.service_runtime import run_service, triton_models_ready
from services.audio.rhythm import MODEL as BEAT_MODEL
from services.audio.servicer import bindings
from services.audio.speech import MODEL as VAD_MODEL

if __name__ == "__main__":
    run_service("audio", bindings, triton_models_ready([BEAT_MODEL, VAD_MODEL]))
