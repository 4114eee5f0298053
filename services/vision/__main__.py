"""python -m services.vision --config mesh.json"""
from mediamesh.service_runtime import run_service, triton_models_ready
from services.vision.faces import MODEL as FACE_DETECTION
from services.vision.fingerprint_job import MODEL as FRAME_HASH
from services.vision.green_screen import MODEL as GREEN_KEYER
from services.vision.portrait import MODEL as SELFIE_SEGMENTATION
from services.vision.region_blur import MODEL as EDGE_FEATURES
from services.vision.servicer import bindings
from services.vision.shot_detection import MODEL as SHOT_FEATURES
from services.vision.subtitle_job import MODEL as TEXT_DETECTION

if __name__ == "__main__":
    run_service("vision", bindings,
                triton_models_ready([GREEN_KEYER, SHOT_FEATURES, FRAME_HASH, SELFIE_SEGMENTATION,
                                         EDGE_FEATURES, FACE_DETECTION, TEXT_DETECTION]))
