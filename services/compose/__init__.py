"""ComposeService: see proto/mediamesh/v1/compose.proto for the contract."""
