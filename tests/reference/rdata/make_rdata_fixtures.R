# Writes the small R data files that tests/test_datasets.py parses: four
# made-up cups (not the published values) shaped like easyCODA's `cups`,
# saved the ways R can save them. Run from this folder:
#     Rscript make_rdata_fixtures.R
# (R 4.2.2 made the committed files.) The values must match VALUES in
# tests/test_datasets.py.
m <- rbind(c(74.1, 1.9, 0.31, 0.52, 5.4, 16.9, 0.47, 0.07, 0.05, 0.02, 0.29), c(70.8, 2.3, 0.45, 0.61, 6.2, 18.4, 0.55, 0.08, 0.06, 0.03, 0.41), c(72.0, 2.0, 0.38, 0.49, 5.9, 17.6, 0.5, 0.06, 0.04, 0.015, 0.35), c(69.25, 2.6, 0.5, 0.7, 7.1, 18.8, 0.6, 0.09, 0.07, 0.04, 0.0625))
cups <- as.data.frame(m)
names(cups) <- c("Si", "Al", "Fe", "Mg", "Ca", "Na", "K", "Ti", "P", "Mn", "Sb")
save(cups, file = "default.RData")
save(cups, file = "v2xz.RData", version = 2, compress = "xz")
save(cups, file = "bzip2.RData", compress = "bzip2")
rownames(cups) <- c("3", "7", "11", "12")
save(cups, file = "named.RData")
rownames(cups) <- c("a", "b", "c", "d")
save(cups, file = "lettered.RData")
glass <- cups
save(glass, file = "glass.rda")
