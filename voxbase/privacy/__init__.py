"""Privacy: retention and purges, account deletion, GDPR export and erase, consents, backups."""
