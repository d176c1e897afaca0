# Reference for the pairwise contrasts of a 3-group comparison (radiogenomics.associate.compare,
# compare_groups(..., pairwise = TRUE)):  Rscript tests/data/R/associate/pairwise.R
# Input: clinical_input.csv (groups high, middle, low).  For every pair of groups:
#   continuous: wilcox.test(x, y) (R's defaults: exact without ties and n < 50, else normal
#   approximation with continuity correction); categorical: chisq.test on the pair's table
#   (Yates for 2x2) or fisher.test when an expected count is < 5.
# fdr: p.adjust(BH) over all pairwise rows (every variable and pair).  Cross-check: for one
# variable the same as pairwise.wilcox.test(x, g, p.adjust.method = "BH") (column pw_p_bh).
file_arg <- grep("^--file=", commandArgs(), value = TRUE)
here <- dirname(normalizePath(sub("^--file=", "", file_arg)))
d <- read.csv(file.path(here, "clinical_input.csv"), stringsAsFactors = FALSE, na.strings = c("", "NA"))
cont <- c("age", "weight_lbs", "pack_years", "days_ct_to_surgery", "small_exact")
cats <- c("gender", "smoking_status", "histology", "t_stage", "n_stage", "pleural_invasion",
          "lymphovascular_invasion", "small_binary")
g3 <- c("high", "middle", "low")
pairs <- list(c("high", "middle"), c("high", "low"), c("middle", "low"))
rows <- list()
add <- function(variable, a, b, test, statistic, p) {
  rows[[length(rows) + 1]] <<- data.frame(variable = variable, a = a, b = b, test = test,
                                          statistic = statistic, p = p)
}
for (v in cont) {
  for (pr in pairs) {
    x <- d[[v]][d$grp == pr[1]]; y <- d[[v]][d$grp == pr[2]]
    x <- x[!is.na(x)]; y <- y[!is.na(y)]
    w <- suppressWarnings(wilcox.test(x, y))
    add(v, pr[1], pr[2], "mann-whitney", unname(w$statistic), w$p.value)
  }
}
for (v in cats) {
  for (pr in pairs) {
    sub <- d[d$grp %in% pr & !is.na(d[[v]]), ]
    tab <- table(factor(sub$grp, levels = pr), sub[[v]])
    tab <- tab[rowSums(tab) > 0, colSums(tab) > 0, drop = FALSE]
    if (nrow(tab) < 2 || ncol(tab) < 2) {
      add(v, pr[1], pr[2], "chi2", NA, NA)
      next
    }
    e <- suppressWarnings(chisq.test(tab))$expected
    if (any(e < 5)) {
      f <- fisher.test(tab, workspace = 2e8)
      add(v, pr[1], pr[2], "fisher", NA, f$p.value)
    } else {
      ch <- suppressWarnings(chisq.test(tab))
      add(v, pr[1], pr[2], "chi2", unname(ch$statistic), ch$p.value)
    }
  }
}
res <- do.call(rbind, rows)
res$fdr <- p.adjust(res$p, "BH")
# pairwise.wilcox.test per continuous variable (BH within the variable's three pairs)
res$pw_p_bh <- NA
for (v in cont) {
  sub <- d[!is.na(d[[v]]) & d$grp %in% g3, ]
  pw <- suppressWarnings(pairwise.wilcox.test(sub[[v]], factor(sub$grp, levels = g3), p.adjust.method = "BH"))$p.value
  for (pr in pairs) {
    m <- res$variable == v & res$a == pr[1] & res$b == pr[2]
    res$pw_p_bh[m] <- pw[pr[2], pr[1]]
  }
}
write.csv(res, file.path(here, "r_pairwise.csv"), row.names = FALSE)
cat(R.version.string, "\n")
