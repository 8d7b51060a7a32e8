"""Cross-cutting pieces shared by the domain packages: database, errors, geometry, i18n."""
