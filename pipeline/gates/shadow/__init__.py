"""Shadow runs: each changed function compared with its original on every call the gate's pytest run makes."""
