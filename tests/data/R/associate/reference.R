# Reference p-values for radiogenomics.associate.compare (run from anywhere):
#   Rscript tests/data/R/associate/reference.R
# Input: clinical_input.csv (made by make_input.py from the real TCIA clinical CSV).
# Output: r_reference.csv with variable, comparison, test, statistic, p, fdr.
#   comparison high_low: wilcox.test, ks.test; comparison three: kruskal.test; both:
#   chisq.test (Yates for 2x2) or, when an expected count is < 5, fisher.test (exact).
#   fdr: p.adjust(BH) within a comparison, KS tests separately.
file_arg <- grep("^--file=", commandArgs(), value = TRUE)
here <- dirname(normalizePath(sub("^--file=", "", file_arg)))
d <- read.csv(file.path(here, "clinical_input.csv"), stringsAsFactors = FALSE, na.strings = c("", "NA"))
cont <- c("age", "weight_lbs", "pack_years", "days_ct_to_surgery", "small_exact")
cats <- c("gender", "smoking_status", "histology", "t_stage", "n_stage", "pleural_invasion",
          "lymphovascular_invasion", "small_binary")
rows <- list()
add <- function(variable, comparison, test, statistic, p) {
  rows[[length(rows) + 1]] <<- data.frame(variable = variable, comparison = comparison, test = test,
                                          statistic = statistic, p = p)
}
for (v in cont) {
  x <- d[[v]][d$grp == "high"]; y <- d[[v]][d$grp == "low"]
  x <- x[!is.na(x)]; y <- y[!is.na(y)]
  w <- suppressWarnings(wilcox.test(x, y))
  add(v, "high_low", "mann-whitney", unname(w$statistic), w$p.value)
  k <- suppressWarnings(ks.test(x, y))
  add(v, "high_low", "ks", unname(k$statistic), k$p.value)
  sub <- d[!is.na(d[[v]]), ]
  kw <- kruskal.test(sub[[v]], factor(sub$grp))
  add(v, "three", "kruskal", unname(kw$statistic), kw$p.value)
}
for (v in cats) {
  for (cmp in c("high_low", "three")) {
    g <- if (cmp == "high_low") c("high", "low") else c("high", "middle", "low")
    sub <- d[d$grp %in% g & !is.na(d[[v]]), ]
    tab <- table(factor(sub$grp, levels = g), sub[[v]])
    tab <- tab[rowSums(tab) > 0, colSums(tab) > 0, drop = FALSE]
    e <- suppressWarnings(chisq.test(tab))$expected
    if (any(e < 5)) {
      f <- fisher.test(tab, workspace = 2e8)
      add(v, cmp, "fisher", NA, f$p.value)
    } else {
      ch <- suppressWarnings(chisq.test(tab))
      add(v, cmp, "chi2", unname(ch$statistic), ch$p.value)
    }
  }
}
res <- do.call(rbind, rows)
res$fdr <- NA
for (cmp in unique(res$comparison)) {
  for (is_ks in c(TRUE, FALSE)) {
    m <- res$comparison == cmp & ((res$test == "ks") == is_ks)
    if (any(m)) res$fdr[m] <- p.adjust(res$p[m], "BH")
  }
}
write.csv(res, file.path(here, "r_reference.csv"), row.names = FALSE)
cat(R.version.string, "\n")
