"""The public data sets, read from their files and loaded into throwaway collections."""
