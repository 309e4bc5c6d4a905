"""Test infrastructure: throwaway databases and real server processes."""
