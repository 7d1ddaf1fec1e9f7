"""Files: checkpoints, results files, image files, and the policy for writing outputs safely."""
