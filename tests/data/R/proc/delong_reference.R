# Reference values for radiogenomics.models.delong (DeLong AUC CI and paired test).
#
# Run from this folder:  Rscript delong_reference.R
# Inputs (committed next to this script):
#   nsclc_clinical_inputs.csv  - columns copied from the real NSCLC Radiogenomics clinical CSV
#                                (NSCLCR01Radiogenomic_DATA_LABELS_2018-05-22_1500-shifted.csv, TCIA):
#                                age, pack years, weight; recurrence (yes=1/no=0) and
#                                nodal_positive (pathological N1/N2=1, N0=0); NA = not collected
#   synthetic_ties_inputs.csv  - synthetic outcome with heavily tied scores (5-point scale, rounded)
# Output: delong_reference.csv, one row per case.
suppressPackageStartupMessages(library(pROC))

clin <- read.csv("nsclc_clinical_inputs.csv")
syn <- read.csv("synthetic_ties_inputs.csv")

cases <- list(
  list(name = "recurrence_age_vs_pack_years", data = clin, y = "recurrence", a = "age", b = "pack_years", direction = "<"),
  list(name = "recurrence_age_vs_weight", data = clin, y = "recurrence", a = "age", b = "weight_lbs", direction = "<"),
  list(name = "nodal_age_vs_pack_years", data = clin, y = "nodal_positive", a = "age", b = "pack_years", direction = "<"),
  list(name = "nodal_weight_vs_pack_years_auto", data = clin, y = "nodal_positive", a = "weight_lbs", b = "pack_years", direction = "auto"),
  list(name = "synthetic_ordinal", data = syn, y = "y", a = "ordinal_a", b = "ordinal_b", direction = "<"),
  list(name = "synthetic_continuous_ties", data = syn, y = "y", a = "cont_a", b = "cont_b", direction = "<"),
  list(name = "synthetic_ordinal_vs_continuous", data = syn, y = "y", a = "ordinal_a", b = "cont_a", direction = "<")
)

rows <- lapply(cases, function(cs) {
  d <- cs$data[complete.cases(cs$data[, c(cs$y, cs$a, cs$b)]), ]
  ra <- roc(d[[cs$y]], d[[cs$a]], levels = c(0, 1), direction = cs$direction, quiet = TRUE)
  rb <- roc(d[[cs$y]], d[[cs$b]], levels = c(0, 1), direction = cs$direction, quiet = TRUE)
  ca <- ci.auc(ra, method = "delong")
  cb <- ci.auc(rb, method = "delong")
  tt <- roc.test(ra, rb, method = "delong", paired = TRUE)
  data.frame(case = cs$name, y = cs$y, score_a = cs$a, score_b = cs$b, direction = cs$direction,
             n = nrow(d), n_positive = sum(d[[cs$y]] == 1),
             auc_a = as.numeric(ra$auc), ci_a_lower = ca[1], ci_a_upper = ca[3],
             auc_b = as.numeric(rb$auc), ci_b_lower = cb[1], ci_b_upper = cb[3],
             z = unname(tt$statistic), pvalue = tt$p.value)
})
out <- do.call(rbind, rows)
write.csv(out, "delong_reference.csv", row.names = FALSE)
cat(sprintf("pROC %s, R %s\n", as.character(packageVersion("pROC")), R.version.string))
