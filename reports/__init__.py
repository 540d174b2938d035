"""tlsfit reports stage: report.json/md/html, the cross-profile summary, diff and the CI footprint gate."""
