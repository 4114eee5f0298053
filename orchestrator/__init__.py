"""The workflow orchestrator: runs workflow YAML as DAGs of gRPC steps over NATS JetStream."""
