"""python -m services.audio --config mesh.json"""
from mediamesh.service_runtime import run_service
from services.audio.servicer import bindings

if __name__ == "__main__":
    run_service("audio", bindings)
