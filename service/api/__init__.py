"""gRPC layer: thin servicers that convert protobuf to and from the domain core."""
