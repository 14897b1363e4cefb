"""For testers: scenarios (`scenario`) and their steps over the workspace (`steps`), coverage of
the rules (`coverage`), the suite runner (`suite`), outcome differences between two configurations
(`diff`, and `email_diff` for the emails rendered differently), the outcome matrix of a process
(`matrix`), the mutation score (`mutants`, and `equivalent` for the mutants no suite could kill),
generated scenarios (`criteria` the coverage counts, `search` over the compiled machine, `generate`
the paths chosen, `generated` and `generated_text` the files written), and `demo`, the main job
end to end on the sample users (`samples/`).

May import: report, batch, outbound, store, definitions and the ground floor (the top floor).
"""
