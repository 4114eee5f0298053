"""python -m orchestrator --config mesh.json"""
from mediamesh.service_runtime import run_service
from orchestrator.servicer import bindings, nats_ready

if __name__ == "__main__":
    run_service("orchestrator", bindings, nats_ready)
