# R reference of the radiogenomic map (tests/associate/test_rgmap.py).
# Real data: the Bioconductor ALL arrays already used by the omics references
# (../omics/all_expr.csv.gz, ../omics/all_expr_na.csv.gz, ../omics/all_samples.csv).
# "imaging" = the first 12 probes, "molecular" = the next 60; covariate = sex.
# Spearman: cor.test(method = "spearman", exact = FALSE) per pair on its complete cases;
# partial Spearman: ranks of x, y and the covariate, residuals of lm on the covariate's
# ranks, Pearson correlation of the residuals, t on n - 2 - k df (ppcor's pcor.test);
# FDR: p.adjust(method = "BH") over the whole map.
# Run: Rscript reference.R   (from this folder)
read_expr <- function(f) as.matrix(read.csv(gzfile(f), row.names = 1, check.names = FALSE))
samples <- read.csv("../omics/all_samples.csv", colClasses = "character")
one_map <- function(expr, partial) {
  x <- t(expr[1:12, samples$sample]); y <- t(expr[13:72, samples$sample])
  z <- as.numeric(samples$sex == "M")
  out <- list()
  for (i in seq_len(ncol(x))) for (j in seq_len(ncol(y))) {
    ok <- !is.na(x[, i]) & !is.na(y[, j]) & !is.na(z)
    n <- sum(ok)
    if (n < 5) {  # rg's MIN_PAIRS: no correlation from fewer than 5 patients
      rho <- NA; p <- NA
    } else if (!partial) {
      ct <- suppressWarnings(cor.test(x[ok, i], y[ok, j], method = "spearman", exact = FALSE))
      rho <- unname(ct$estimate); p <- ct$p.value
    } else {
      zr <- rank(z[ok])
      rx <- resid(lm(rank(x[ok, i]) ~ zr)); ry <- resid(lm(rank(y[ok, j]) ~ zr))
      rho <- cor(rx, ry); df <- n - 2 - 1
      p <- 2 * pt(-abs(rho * sqrt(df / (1 - rho^2))), df)
    }
    out[[length(out) + 1]] <- data.frame(imaging = colnames(x)[i], molecular = colnames(y)[j],
                                         rho = rho, p = p, n = n)
  }
  res <- do.call(rbind, out)
  res$fdr <- p.adjust(res$p, method = "BH")
  res
}
for (cfg in list(list("all_expr.csv.gz", FALSE, "ref_map_all.csv"),
                 list("all_expr.csv.gz", TRUE, "ref_map_all_partial_sex.csv"),
                 list("all_expr_na.csv.gz", FALSE, "ref_map_all_na.csv"))) {
  res <- one_map(read_expr(file.path("../omics", cfg[[1]])), cfg[[2]])
  write.csv(res, cfg[[3]], row.names = FALSE)
}
writeLines(c(R.version.string), "versions.txt")
