"""ETA commitments: a public staff reply may promise the next step by a time."""
