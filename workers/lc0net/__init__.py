"""lc0 network interop: `.pb.gz` files to and from our checkpoints, and evaluation."""
