"""Witnesses (D16): C2SP tlog-witness cosigning of checkpoints, both sides."""
