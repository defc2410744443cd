"""Exports: the file of an export job (`files`) and the places it goes (`destinations`): e-mail,
SFTP, a signed webhook. The job itself is `billing_batch.jobs.export`."""
