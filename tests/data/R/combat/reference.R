# R reference of rg's ComBat (tests/imaging/test_harmonize.py): sva::ComBat on real data.
# Real data: the Bioconductor ALL arrays (../omics/all_expr.csv.gz, ../omics/all_samples.csv),
# the first 300 probes x 78 arrays; batch = sex (M / F), covariate to preserve = BCR/ABL vs NEG.
# Outputs (features x samples, like the input): parametric and non-parametric empirical Bayes,
# with and without the covariate.
# Run: Rscript reference.R   (from this folder)
suppressMessages(library(sva))
expr <- as.matrix(read.csv(gzfile("../omics/all_expr.csv.gz"), row.names = 1, check.names = FALSE))
samples <- read.csv("../omics/all_samples.csv", colClasses = "character")
dat <- expr[1:300, samples$sample]
batch <- samples$sex
mod <- model.matrix(~ group, data = samples)
run <- function(par, with_mod, out) {
  res <- suppressMessages(ComBat(dat = dat, batch = batch, mod = if (with_mod) mod else NULL,
                                 par.prior = par, prior.plots = FALSE))
  write.csv(round(res, 12), out)
}
run(TRUE, TRUE, "ref_combat_parametric_group.csv")
run(FALSE, TRUE, "ref_combat_nonparametric_group.csv")
run(TRUE, FALSE, "ref_combat_parametric.csv")
writeLines(c(R.version.string, paste("sva", packageVersion("sva"))), "versions.txt")
